package tts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/media"
)

// Engines.
const (
	EngineEspeak = "espeak-ng"
	EngineFiles  = "files"
)

// Speaker implements dialer.Speaker.
type Speaker struct {
	engine string
	dir    string // EngineFiles: DIR/LANG/NAME.wav
	espeak string // path of espeak-ng, "" when missing
	log    *slog.Logger

	mu    sync.Mutex // guards cache
	cache map[key]dialer.Audio
}

type key struct{ lang, name, text string }

// cacheMax bounds the cache; whispers differ per lead, fixed prompts repeat.
const cacheMax = 512

var _ dialer.Speaker = (*Speaker)(nil)

// New returns a Speaker for engine ("espeak-ng" or "files"; dir holds the files).
// Without espeak-ng on PATH it warns once and speaks in tones.
func New(engine, dir string, log *slog.Logger) (*Speaker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Speaker{engine: engine, dir: dir, log: log, cache: map[key]dialer.Audio{}}
	switch engine {
	case EngineEspeak, "":
		s.engine = EngineEspeak
		if p, err := exec.LookPath("espeak-ng"); err == nil {
			s.espeak = p
		} else {
			log.Warn("espeak-ng is not installed: prompts will be tones; install espeak-ng for spoken whispers")
		}
	case EngineFiles:
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("tts: prompt directory %q: not a directory", dir)
		}
	default:
		return nil, fmt.Errorf("tts: unknown engine %q", engine)
	}
	return s, nil
}

// Speaking reports whether prompts are spoken rather than tones.
func (s *Speaker) Speaking() bool { return s.engine == EngineFiles || s.espeak != "" }

// Speak implements dialer.Speaker.
func (s *Speaker) Speak(ctx context.Context, lang string, p dialer.Prompt) (dialer.Audio, error) {
	k := key{lang, p.Name, p.Text}
	s.mu.Lock()
	a, ok := s.cache[k]
	s.mu.Unlock()
	if ok {
		return a, nil
	}
	a, err := s.render(ctx, lang, p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.cache) >= cacheMax {
		clear(s.cache)
	}
	s.cache[k] = a
	s.mu.Unlock()
	return a, nil
}

func (s *Speaker) render(ctx context.Context, lang string, p dialer.Prompt) (dialer.Audio, error) {
	switch {
	case s.engine == EngineFiles:
		return s.file(lang, p.Name)
	case s.espeak != "":
		return s.synthesise(ctx, lang, p.Text)
	}
	return tones(p.Name), nil
}

// synthesise runs espeak-ng with the text on standard input (never as an argument, so
// nothing in a lead can become an option) and resamples its WAV to 8 kHz. The text is
// made speakable first.
func (s *Speaker) synthesise(ctx context.Context, lang, text string) (dialer.Audio, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.espeak, "-v", lang, "-s", "150", "--stdout")
	cmd.Stdin = strings.NewReader(speakable(text))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tts: espeak-ng: %w: %s", err, bytes.TrimSpace(errOut.Bytes()))
	}
	pcm, rate, err := media.ReadWAV(&out)
	if err != nil {
		return nil, fmt.Errorf("tts: espeak-ng output: %w", err)
	}
	return media.Resample(pcm, rate), nil
}

// speakable is text with every control character (C0, DEL, C1: line breaks and tabs
// too) and every byte that is not UTF-8 turned into a space. espeak-ng reads U+0001
// as the start of an embedded command (U+0001 then a number and a letter: volume,
// speed, pauses), which would let a lead's name silence a whisper or stretch it
// out. The dialer refuses such leads already; this is the second line of defence,
// for every text spoken.
func speakable(text string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(text, " "))
}

func (s *Speaker) file(lang, name string) (dialer.Audio, error) {
	path := filepath.Join(s.dir, lang, name+".wav")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.Open(filepath.Join(s.dir, name+".wav"))
	}
	if err != nil {
		return nil, fmt.Errorf("tts: prompt %q: %w", name, err)
	}
	defer f.Close()
	pcm, rate, err := media.ReadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("tts: %s: %w", path, err)
	}
	return media.Resample(pcm, rate), nil
}

// tones stand in for speech: two rising beeps for a whisper (press 1 after them), one
// for "connecting", three low ones when the customer was not reached.
func tones(name string) dialer.Audio {
	gap := media.Silence(150 * time.Millisecond)
	var out []int16
	switch name {
	case dialer.PromptWhisper:
		out = append(append(append(out, media.Beep(660, 250*time.Millisecond)...), gap...), media.Beep(880, 250*time.Millisecond)...)
	case dialer.PromptCustomerUnreachable:
		for range 3 {
			out = append(append(out, media.Beep(400, 200*time.Millisecond)...), gap...)
		}
	default:
		out = media.Beep(880, 200*time.Millisecond)
	}
	return append(out, media.Silence(300*time.Millisecond)...)
}
