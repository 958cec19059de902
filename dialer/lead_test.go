package dialer_test

import (
	"slices"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// TestStatuses: FinalStatuses are the statuses that end a lead, each with the event
// that reports it, and Statuses holds every status once, the open ones first.
func TestStatuses(t *testing.T) {
	open := []dialer.Status{dialer.StatusQueued, dialer.StatusScheduled, dialer.StatusDialing, dialer.StatusConnected}
	if want := append(slices.Clone(open), dialer.FinalStatuses...); !slices.Equal(dialer.Statuses, want) {
		t.Errorf("Statuses = %q, want %q", dialer.Statuses, want)
	}
	for _, s := range dialer.Statuses {
		if !s.Valid() {
			t.Errorf("%q not valid", s)
		}
		if final := slices.Contains(dialer.FinalStatuses, s); s.Final() != final {
			t.Errorf("%q: Final() = %v, in FinalStatuses = %v", s, s.Final(), final)
		}
		if s.Final() && s.Event() == "" {
			t.Errorf("final status %q reports no event", s)
		}
	}
	if dialer.Status("done").Valid() || dialer.Status("").Final() {
		t.Error("an unknown status is valid or final")
	}
}
