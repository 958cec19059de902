package sip

import (
	"github.com/pion/rtp"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/media"
)

// A recording taps the bridged path: the audio a leg receives from its far end and
// relays to its peer is also decoded to PCM and handed to the tap, on the media loop,
// with no allocation (the loop's scratch holds the PCM). Only relayed audio is tapped,
// so a recording holds the bridged conversation alone: nothing of the whisper,
// ringback or early media, which are never relayed through a bridge.

// tapRef is a tap and the channel this leg's audio goes to.
type tapRef struct {
	tap     dialer.Tap
	channel int
}

var _ dialer.Tappable = (*Call)(nil)

// SetTap implements dialer.Tappable.
func (c *Call) SetTap(t dialer.Tap, channel int) {
	if t == nil {
		c.media.tap.Store(nil)
		// The media loop may be inside the tap's Audio for a packet it read before: wait
		// for it to finish (the loop holds its lock while it handles packets).
		c.media.loop.barrier()
		return
	}
	c.media.tap.Store(&tapRef{tap: t, channel: channel})
}

// tapAudio hands a relayed audio packet to the stream's tap, if any. Only the media loop
// calls it.
func (s *stream) tapAudio(codec media.Codec, p *rtp.Packet, rx *rxScratch) {
	t := s.tap.Load()
	if t == nil {
		return
	}
	rx.pcm = media.Decode(codec, rx.pcm[:0], p.Payload)
	t.tap.Audio(t.channel, rx.pcm, p.Timestamp, p.SSRC)
}
