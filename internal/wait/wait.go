package wait

import (
	"testing"
	"time"
)

// poll is how often a condition is looked at.
const poll = 10 * time.Millisecond

// For polls cond until it holds. Once within has passed without it, it fails tb with
// what it was waiting for (tb.Fatalf: call it from the test's goroutine).
func For(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	if !Until(within, cond) {
		tb.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// Until polls cond until it holds or within passes, and reports whether it came true:
// for a test that goes on to say itself what went wrong.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(poll)
	}
	return true
}

// Closed waits for ch to close (or to deliver a value). Once within has passed without
// it, it fails tb with what it was waiting for.
func Closed[T any](tb testing.TB, ch <-chan T, within time.Duration, what string) {
	tb.Helper()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
		tb.Fatalf("timed out after %v waiting for %s", within, what)
	}
}
