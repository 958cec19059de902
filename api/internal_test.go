package api

import (
	"strconv"
	"testing"
	"time"
)

func TestReplayCacheBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	c := newReplayCache(3)
	for i := range 3 {
		if !c.add("sig"+strconv.Itoa(i), t0) {
			t.Fatalf("sig%d refused", i)
		}
	}
	if c.add("sig1", t0.Add(time.Second)) {
		t.Error("replay accepted")
	}
	// Full: the oldest is forgotten to make room.
	if !c.add("sig3", t0.Add(time.Second)) || c.size() != 3 {
		t.Errorf("size %d after a fourth signature, want 3", c.size())
	}
	if !c.add("sig0", t0.Add(2*time.Second)) {
		t.Error("the oldest signature was not the one forgotten")
	}
	// Two windows later everything has expired.
	if !c.add("sig1", t0.Add(2*SignatureWindow+3*time.Second)) || c.size() != 1 {
		t.Errorf("size %d after expiry, want 1", c.size())
	}
	c.forget("sig1")
	if !c.add("sig1", t0.Add(2*SignatureWindow+4*time.Second)) {
		t.Error("forgotten signature refused")
	}
}

func TestFormatPer(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "hour", time.Minute: "minute", 24 * time.Hour: "day",
		30 * time.Minute: "30m", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 10 * time.Second: "10s",
	} {
		if got := formatPer(d); got != want {
			t.Errorf("formatPer(%v) = %q, want %q", d, got, want)
		}
	}
}
