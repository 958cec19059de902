package recording

import (
	"sync"
	"time"
)

// The mixer lines the two legs' audio up in time. Each frame's place in the recording
// comes from its RTP timestamp, counted from where that leg's stream was anchored: the
// moment its first packet arrived, relative to the start of the recording. A lost
// packet leaves its frames silent; a new source (SSRC) or a timestamp that strays more
// than reanchor from the wall clock (a hold, a jump) anchors the leg afresh. The writer
// takes frames up to margin behind the wall clock, so packets that arrive a little late
// still find their place; later ones are dropped.

const (
	ringFrames = 1 << 16 // frames kept per channel (8.2 s): more than margin plus a writer's pause
	ringMask   = ringFrames - 1
	margin     = SampleRate / 2 // 500 ms: how long a frame may arrive late
	reanchor   = SampleRate     // 1 s: a leg this far from the clock is anchored again
)

type chanState struct {
	anchored bool
	src      uint32
	ts0      uint32 // RTP timestamp at pos0
	pos0     int64  // frame position of ts0 in the recording
}

// mixer is one recording's two channels. Audio runs on the media loops of both legs;
// take runs on the recording's writer goroutine.
type mixer struct {
	start time.Time
	now   func() time.Time

	mu      sync.Mutex // guards the following fields
	closed  bool
	written int64 // frames taken so far
	late    int64 // frames dropped: they arrived after their place was taken
	ch      [Channels]chanState
	ring    [Channels][ringFrames]int16
}

// wall is the frame position of t.
func (m *mixer) wall(t time.Time) int64 {
	return int64(t.Sub(m.start)) * SampleRate / int64(time.Second)
}

// Audio implements dialer.Tap.
func (m *mixer) Audio(channel int, pcm []int16, ts, src uint32) {
	if channel < 0 || channel >= Channels || len(pcm) == 0 || len(pcm) > ringFrames/2 {
		return
	}
	now := m.now()
	m.mu.Lock()
	m.place(channel, pcm, ts, src, now)
	m.mu.Unlock()
}

// place is Audio's work, under mu; no defer, it runs per packet.
func (m *mixer) place(channel int, pcm []int16, ts, src uint32, now time.Time) {
	if m.closed {
		return
	}
	wall := m.wall(now)
	c := &m.ch[channel]
	n := int64(len(pcm))
	pos := c.pos0 + int64(int32(ts-c.ts0))
	if !c.anchored || c.src != src || pos+n > wall+reanchor || pos+n < wall-reanchor {
		// The frame ends about now.
		c.anchored, c.src, c.ts0, c.pos0 = true, src, ts, max(wall-n, m.written)
		pos = c.pos0
	}
	from := int64(0)
	if pos < m.written {
		from = m.written - pos
		if from >= n {
			m.late += n
			return
		}
		m.late += from
	}
	if pos+n > m.written+ringFrames {
		return // cannot happen while anchored within reanchor of the clock
	}
	// At most two copies: up to the ring's end, then from its start.
	ring := m.ring[channel][:]
	at := int((pos + from) & ringMask)
	k := copy(ring[at:], pcm[from:])
	copy(ring, pcm[int(from)+k:])
}

// take appends to out the frames from the last take up to margin before the wall clock
// (final: up to the wall clock), interleaved, and clears them in the ring. It returns
// out.
func (m *mixer) take(out []int16, final bool) []int16 {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	target := m.wall(now)
	if !final {
		target -= margin
	}
	target = min(target, m.written+ringFrames)
	// By contiguous runs of the ring (at most two), interleaving and clearing.
	for p := m.written; p < target; {
		i := int(p & ringMask)
		n := min(int(target-p), ringFrames-i)
		l, r := m.ring[0][i:i+n], m.ring[1][i:i+n]
		for j := range l {
			out = append(out, l[j], r[j])
		}
		clear(l)
		clear(r)
		p += int64(n)
	}
	m.written = max(m.written, target)
	if final {
		m.closed = true
	}
	return out
}
