// Package tts turns the dialer's prompts into telephone audio: with espeak-ng when it is
// installed, from prerecorded WAV files with the "files" engine, and as tones when
// neither can speak, so a call never stays silent.
//
// It implements dialer.Speaker and imports dialer and media only.
package tts
