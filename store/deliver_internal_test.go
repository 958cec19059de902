package store

import (
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

// The default schedule: 5 s doubling to 6 h, ±20 %, for 72 h after the first try: about
// two dozen tries, the last within the window.
func TestDeliveryPolicySchedule(t *testing.T) {
	p := DeliveryPolicy{}.withDefaults()
	for tries, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 6: 160 * time.Second,
		13: 5 * time.Second << 12, 14: 6 * time.Hour, 30: 6 * time.Hour} {
		if got := p.Wait(tries); got != want {
			t.Errorf("Wait(%d) = %v, want %v", tries, got, want)
		}
	}
	for range 100 {
		first := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		now, tries := first, 1
		for {
			next := p.next(now, first, tries, dialer.TryResult{Outcome: dialer.TryFailed})
			if next.IsZero() {
				break
			}
			w, base := next.Sub(now), p.Wait(tries)
			if w < base*8/10 || w > base*12/10 {
				t.Fatalf("wait %v after try %d, want %v ±20%%", w, tries, base)
			}
			now, tries = next, tries+1
		}
		if tries < 20 || tries > 28 || now.Sub(first) > p.GiveUpAfter || now.Sub(first) < 60*time.Hour {
			t.Fatalf("gave up after %d tries, the last %v after the first", tries, now.Sub(first))
		}
	}
	// Retry-After is heeded, up to the longest wait.
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	if got := p.next(now, now, 1, dialer.TryResult{RetryAfter: time.Hour}); got.Sub(now) != time.Hour {
		t.Errorf("Retry-After 1h: next try after %v", got.Sub(now))
	}
	if got := p.next(now, now, 1, dialer.TryResult{RetryAfter: 100 * time.Hour}); got.Sub(now) != p.MaxWait {
		t.Errorf("Retry-After 100h: next try after %v", got.Sub(now))
	}
}
