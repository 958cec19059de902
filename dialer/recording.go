package dialer

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Call recording (issue 16). A dealer may record its bridged calls, off by default. The
// customer is told before the bridge (ConsentAnnounce) or asked to press 1
// (ConsentAsk: no key, no recording); the salesperson hears in the whisper that the
// call will be, or may be, recorded. Only the bridged conversation is recorded: the
// flow starts the recording after Bridge and finishes it when the call ends. Where and
// how it is written is the CallRecorder's (the recording package); the legs' audio
// comes from Legs that are Tappable (*sip.Call).
//
// The flow calls three hooks of this file: recordingWhisper (ring.go, the whisper's
// text), recordingConsent (connect.go's bridge, before Bridge) and startRecording
// (bridge, after it); disconnect calls the function the last returns, which finishes
// the recording.

// Consent is how a customer agrees to a recording.
type Consent string

// Consent modes.
const (
	// ConsentAnnounce: the customer hears the notice before the bridge; the call is
	// recorded.
	ConsentAnnounce Consent = "announce"
	// ConsentAsk: the customer hears the notice and "press 1 to allow recording"; the
	// call is recorded only after a 1.
	ConsentAsk Consent = "ask"
)

// RecordingPolicy is a dealer's recording setting. The zero value records nothing.
type RecordingPolicy struct {
	Enabled bool
	Consent Consent
	// Notice is what the customer hears before the bridge (purpose and retention); ""
	// is the default of the dealer's language.
	Notice string
	// Retention is how long a recording is kept; 0 keeps it until it is erased.
	Retention time.Duration
}

// Prompt names of the recording notice (prerecorded prompts: "recording_notice.wav",
// "recording_ask.wav").
const (
	PromptRecordingNotice = "recording_notice"
	PromptRecordingAsk    = "recording_ask"
)

// Channels of a recording: the salesperson left, the customer right.
const (
	ChannelSalesperson = 0
	ChannelCustomer    = 1
)

// Tap takes the audio of one bridged call as each side sends it.
type Tap interface {
	// Audio is one frame that channel's leg sent (ChannelSalesperson or
	// ChannelCustomer): 8 kHz linear PCM, with its RTP timestamp (8 kHz clock) and the
	// source (SSRC) it came from, so that gaps and restarts are placed in time. It is
	// called on the media path: it must not block, allocate or keep pcm.
	Audio(channel int, pcm []int16, ts, src uint32)
}

// Tappable is a Leg whose received audio can be tapped while it is bridged. *sip.Call
// implements it.
type Tappable interface {
	// SetTap sends the audio the leg receives from its far end, while bridged, to t on
	// channel; nil stops it. Once SetTap(nil) returned, no new call to t starts.
	SetTap(t Tap, channel int)
}

// CallRecorder makes recordings. *recording.Recorder implements it.
type CallRecorder interface {
	// Start opens the recording of lead r.LeadID's call. The returned ActiveRecording
	// takes the call's audio until Finish.
	Start(ctx context.Context, r RecordingStart) (ActiveRecording, error)
}

// RecordingStart names a recording about to start.
type RecordingStart struct {
	LeadID    string
	Dealer    string
	At        time.Time
	Retention time.Duration // 0: kept until erased
}

// ActiveRecording is a recording being made.
type ActiveRecording interface {
	Tap
	// Finish writes the rest, closes the file with its sizes right and hands it to
	// storage. It is idempotent.
	Finish(ctx context.Context) error
}

// RecordingInfo is what a lead shows of its recording.
type RecordingInfo struct {
	LeadID    string
	Key       string // where the store keeps it: "<dealer>/<lead id>.wav"
	StartedAt time.Time
	Duration  time.Duration // 0 while it is being made
	Bytes     int64
	ExpiresAt time.Time // zero: kept until erased
	// DeletedAt and DeletedReason ("retention", "erasure") say that it is gone.
	DeletedAt     time.Time
	DeletedReason string
}

// RecordingUpload is a finished recording waiting in a node's spool directory for its
// upload to object storage: the job that uploads it runs on Queue, which only the
// processes using that spool directory work.
type RecordingUpload struct {
	Queue string
	Key   string
	Path  string // the file in the spool
}

// Recording deletion reasons.
const (
	DeletedRetention = "retention"
	DeletedErasure   = "erasure"
)

// recordingPhrases are what callers hear of a recording, per language.
type recordingPhrases struct {
	notice     string // the default notice: purpose and retention (%s: "90 days")
	ask        string // after the notice in ConsentAsk
	whisper    string // told to the salesperson in ConsentAnnounce
	whisperAsk string // told to the salesperson in ConsentAsk
	days       string // "%d days"
}

var allRecordingPhrases = map[string]recordingPhrases{
	"en": {
		notice:     "This call is recorded for training and to settle disputes. The recording is kept for %s.",
		ask:        "Press 1 to allow the recording.",
		whisper:    "This call will be recorded. ",
		whisperAsk: "The customer will be asked to allow recording. ",
		days:       "%d days",
	},
	"nl": {
		notice:     "Dit gesprek wordt opgenomen voor training en om geschillen te beslechten. De opname wordt %s bewaard.",
		ask:        "Druk op 1 om de opname toe te staan.",
		whisper:    "Dit gesprek wordt opgenomen. ",
		whisperAsk: "De klant wordt om toestemming voor een opname gevraagd. ",
		days:       "%d dagen",
	},
	"de": {
		notice:     "Dieses Gespräch wird zu Schulungszwecken und zur Klärung von Streitfällen aufgezeichnet. Die Aufnahme wird %s aufbewahrt.",
		ask:        "Drücken Sie 1, um die Aufnahme zu erlauben.",
		whisper:    "Dieses Gespräch wird aufgezeichnet. ",
		whisperAsk: "Der Kunde wird um Erlaubnis für eine Aufnahme gebeten. ",
		days:       "%d Tage",
	},
	"fr": {
		notice:     "Cet appel est enregistré à des fins de formation et pour régler les litiges. L'enregistrement est conservé %s.",
		ask:        "Appuyez sur 1 pour autoriser l'enregistrement.",
		whisper:    "Cet appel sera enregistré. ",
		whisperAsk: "Le client sera invité à autoriser l'enregistrement. ",
		days:       "%d jours",
	},
}

func recordingPhrasesFor(lang string) recordingPhrases {
	if p, ok := allRecordingPhrases[lang]; ok {
		return p
	}
	return allRecordingPhrases["en"]
}

// recordingWhisper is what the salesperson hears of the recording before the whisper;
// "" when the dealer does not record.
func (f *flow) recordingWhisper() string {
	rp := f.d.Recording
	if !rp.Enabled || f.s.recorder == nil {
		return ""
	}
	if rp.Consent == ConsentAsk {
		return recordingPhrasesFor(f.d.Language).whisperAsk
	}
	return recordingPhrasesFor(f.d.Language).whisper
}

// recordingNotice is the notice the customer hears.
func (d *Dealer) recordingNotice() string {
	if d.Recording.Notice != "" {
		return d.Recording.Notice
	}
	ph := recordingPhrasesFor(d.Language)
	days := int((d.Recording.Retention + 24*time.Hour - 1) / (24 * time.Hour))
	return fmt.Sprintf(ph.notice, fmt.Sprintf(ph.days, days))
}

// consentWait is how long a customer asked to allow the recording has to press 1 after
// the question ended.
const consentWait = 5 * time.Second

// recordingConsent tells the customer of the recording (ConsentAnnounce) or asks
// (ConsentAsk) before the bridge, and says whether the call may be recorded. The
// salesperson hears the same meanwhile. It returns false at once when the dealer does
// not record.
func (f *flow) recordingConsent(ctx context.Context, agent, cust Leg) bool {
	rp := f.d.Recording
	if !rp.Enabled || f.s.recorder == nil {
		return false
	}
	text, name := f.d.recordingNotice(), PromptRecordingNotice
	if rp.Consent == ConsentAsk {
		text, name = text+" "+recordingPhrasesFor(f.d.Language).ask, PromptRecordingAsk
	}
	prompt := f.speak(ctx, Prompt{name, text})
	playCtx, stop := context.WithCancel(ctx)
	defer stop()
	played := make(chan struct{})
	go func() {
		defer close(played)
		defer f.caught("playing the recording notice")
		_ = cust.Play(playCtx, prompt)
	}()
	agentHeard := make(chan struct{})
	go func() {
		defer close(agentHeard)
		defer f.caught("playing the recording notice to the salesperson")
		_ = agent.Play(playCtx, prompt)
	}()
	defer func() { stop(); <-played; <-agentHeard }()
	if rp.Consent != ConsentAsk {
		select {
		case <-played:
		case <-ctx.Done():
		}
		return ctx.Err() == nil
	}
	// Only ConsentAsk reads the customer's keys: the customer's line reads none.
	var timeout <-chan time.Time
	asked := played // nil once the question was played whole
	for {
		select {
		case k := <-cust.Digits():
			f.log.Info("recording consent", "key", string(k), "allowed", k == '1')
			return k == '1'
		case <-asked:
			asked = nil
			t := time.NewTimer(consentWait)
			defer t.Stop()
			timeout = t.C
		case <-timeout:
			f.log.Info("recording consent", "allowed", false, "reason", "no key")
			return false
		case <-cust.Done():
			return false
		case <-agent.Done():
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// startRecording records the bridged call when the customer consented: both legs'
// audio goes to a new recording until either leg ends or the returned function is
// called, which finishes the recording and waits for it. It returns a function that
// does nothing when nothing is recorded.
func (f *flow) startRecording(ctx context.Context, agent, cust Leg, consented bool) (finish func()) {
	nothing := func() {}
	if !consented {
		return nothing
	}
	ta, ok := agent.(Tappable)
	tc, ok2 := cust.(Tappable)
	if !ok || !ok2 {
		f.log.Warn("recording: the legs cannot be tapped", "agent", fmt.Sprintf("%T", agent), "customer", fmt.Sprintf("%T", cust))
		return nothing
	}
	l := &f.lead
	rec, err := f.s.recorder.Start(ctx, RecordingStart{LeadID: l.ID, Dealer: l.Dealer, At: f.s.now(), Retention: f.d.Recording.Retention})
	if err != nil {
		f.log.Error("recording: not started", "error", err)
		return nothing
	}
	ta.SetTap(rec, ChannelSalesperson)
	tc.SetTap(rec, ChannelCustomer)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer f.caught("finishing the recording")
		select {
		case <-agent.Done():
		case <-cust.Done():
		case <-stop:
		}
		ta.SetTap(nil, ChannelSalesperson)
		tc.SetTap(nil, ChannelCustomer)
		if err := rec.Finish(f.db); err != nil {
			f.log.Error("recording: not finished", "error", err)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(stop) })
		<-done
	}
}
