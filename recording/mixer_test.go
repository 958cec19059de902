package recording

import (
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func frame(v int16) []int16 {
	f := make([]int16, 160)
	for i := range f {
		f[i] = v
	}
	return f
}
func newTestMixer(c *fakeClock) *mixer { return &mixer{start: c.t, now: c.now} }

// TestMixerAlign: each leg's frames land by their timestamps, a lost packet is silence,
// and the two channels stay in step whatever each leg's timestamps start at.
func TestMixerAlign(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	m := newTestMixer(c)
	var out []int16
	for i := range 50 { // one second, 20 ms at a time
		c.advance(20 * time.Millisecond)
		m.Audio(0, frame(int16(i+1)), 5000+uint32(i)*160, 7)
		if i != 10 { // the customer's 11th packet is lost
			m.Audio(1, frame(int16(-i-1)), 90000+uint32(i)*160, 9)
		}
	}
	out = m.take(out, true)
	if len(out) != 2*8000 {
		t.Fatalf("took %d frames, want 8000", len(out)/2)
	}
	for i := range 50 {
		l, r := out[2*(i*160+80)], out[2*(i*160+80)+1]
		wantR := int16(-i - 1)
		if i == 10 {
			wantR = 0
		}
		if l != int16(i+1) || r != wantR {
			t.Fatalf("frame %d: left %d right %d; want %d %d", i, l, r, i+1, wantR)
		}
	}
}

// TestMixerLateAndReanchor: a packet later than the margin is dropped; a new source
// starts where the clock stands.
func TestMixerLateAndReanchor(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	m := newTestMixer(c)
	c.advance(20 * time.Millisecond)
	m.Audio(0, frame(1), 0, 1)
	c.advance(700 * time.Millisecond)
	out := m.take(nil, false)    // up to 0.72 s - margin
	m.Audio(0, frame(2), 160, 1) // its place (20-40 ms) was taken already
	if m.late != 160 {
		t.Fatalf("late %d, want 160", m.late)
	}
	m.Audio(0, frame(3), 123456, 2) // a new source: now
	out = m.take(out, true)
	n := len(out) / 2
	if got := out[2*(n-80)]; got != 3 {
		t.Fatalf("the new source's frame is not at the end: %d", got)
	}
	if got := out[2*80]; got != 1 {
		t.Fatalf("first frame %d, want 1", got)
	}
	if got := out[2*(160+80)]; got != 0 {
		t.Fatalf("the late frame's place holds %d, want silence", got)
	}
}

// TestMixerAllocs: the media path allocates nothing.
func TestMixerAllocs(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	m := newTestMixer(c)
	f := frame(5)
	ts := uint32(0)
	if n := testing.AllocsPerRun(1000, func() {
		c.advance(20 * time.Millisecond)
		ts += 160
		m.Audio(0, f, ts, 1)
		m.Audio(1, f, ts, 2)
		if ts%8000 == 0 {
			m.written = m.wall(c.t) - margin // as a take would
		}
	}); n != 0 {
		t.Fatalf("%v allocations per packet pair", n)
	}
}

func BenchmarkMixerAudio(b *testing.B) {
	m := &mixer{start: time.Now(), now: time.Now}
	f := frame(5)
	b.ReportAllocs()
	ts := uint32(0)
	for b.Loop() {
		ts += 160
		m.Audio(0, f, ts, 1)
	}
}

// BenchmarkFlush is the flusher's work, per recording, for each flushEvery (200 ms)
// of a call: take the frames from the mixer and write them to the file. A call costs
// five of these a second besides its packets' Audio.
func BenchmarkFlush(b *testing.B) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	m := newTestMixer(c)
	w, err := Create(b.TempDir() + "/bench.wav.part")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	buf := make([]int16, 0, 2*ringFrames)
	b.ReportAllocs()
	for b.Loop() {
		c.advance(flushEvery)
		buf = m.take(buf[:0], false)
		if err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMixerWrap: ten seconds of two legs' audio (more than the ring holds), taken as
// the writer takes it, come out whole and in order across the ring's wrap.
func TestMixerWrap(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	m := newTestMixer(c)
	var out []int16
	f := make([]int16, 160)
	for k := range 500 { // 10 s of 20 ms packets
		for i := range f {
			f[i] = int16(k*160 + i)
		}
		c.advance(20 * time.Millisecond)
		m.Audio(0, f, uint32(k*160), 1)
		m.Audio(1, f, uint32(k*160), 2)
		if k%10 == 9 {
			out = m.take(out, false)
		}
	}
	out = m.take(out, true)
	if len(out) != 2*500*160 {
		t.Fatalf("%d frames out; want %d", len(out)/2, 500*160)
	}
	for p := 0; p < len(out)/2; p++ {
		if want := int16(p); out[2*p] != want || out[2*p+1] != want {
			t.Fatalf("frame %d: %d, %d; want %d in both channels", p, out[2*p], out[2*p+1], want)
		}
	}
}
