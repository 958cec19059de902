// Package media holds the media primitives the SIP user agent calls from its
// per-packet RTP loops, and the audio helpers used to prepare prompts.
//
// It owns:
//
//   - G.711 (ITU-T G.711) μ-law and A-law encoding, decoding and direct
//     μ-law↔A-law transcoding ([Encode], [Decode], [Transcode]);
//   - RFC 4733 telephone-event payloads: decoding each key press exactly once
//     ([EventDecoder]) and encoding the packet sequence a phone sends
//     ([EncodeEvent], [EventPackets]);
//   - in-band DTMF detection on 8 kHz PCM ([ToneDetector]) and generation
//     ([GenerateDTMF]);
//   - SIP INFO DTMF bodies, application/dtmf-relay and application/dtmf
//     ([ParseInfoDigit]);
//   - call-progress tones and prompt building blocks ([ToneGen], [Ringback],
//     [Beep], [Silence]);
//   - resampling to 8 kHz ([Resample]) and reading 16-bit mono WAV
//     ([ReadWAV]), used to turn espeak-ng output into telephone audio.
//
// Audio is 8 kHz mono signed 16-bit linear PCM held in []int16; a 20 ms frame
// is [FrameSamples] samples and a G.711 payload is as many bytes.
//
// The per-packet functions ([Encode], [Decode], [Transcode],
// [EventDecoder.Feed], [ToneDetector.Feed], [ToneGen.Next]) append to or
// fill caller-supplied buffers and do not allocate when those buffers have
// capacity. None of the types is safe for concurrent use; the RTP loop that
// owns a leg owns its decoders.
//
// The package imports no other leadline package and does no I/O beyond the
// readers and slices callers pass in: no sockets, no files, no goroutines,
// no logging.
package media
