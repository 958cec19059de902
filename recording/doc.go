// Package recording owns call recordings: the streaming two-channel WAV file a bridged
// call is written to while it runs (wav.go: a header with placeholder sizes, frames
// appended, synced about once a second, the sizes finished on close and repaired after
// a crash), the mixer that lines the two legs' audio up in time, with silence where a
// leg sent nothing (mixer.go), and where finished recordings are kept: a directory or
// S3-compatible object storage (store.go).
//
// It implements dialer.CallRecorder; the dialer decides whether a call is recorded
// (consent), sip feeds the audio. recording imports dialer only. It must not import
// sip, store, api, metrics or config: cmd copies configuration into Options and hands
// it a Catalog (the store) and an Observer (the metrics).
package recording
