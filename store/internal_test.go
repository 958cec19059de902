package store

import (
	"testing"

	"github.com/leadline/leadline/dialer"
)

// TestFinalStatuses keeps the store's copy of the final statuses in step with
// dialer.Status.Final.
func TestFinalStatuses(t *testing.T) {
	all := []dialer.Status{
		dialer.StatusQueued, dialer.StatusScheduled, dialer.StatusDialing, dialer.StatusConnected,
		dialer.StatusCompleted, dialer.StatusExhausted, dialer.StatusCustomerUnreachable,
		dialer.StatusCanceled, dialer.StatusFailed,
	}
	inList := map[dialer.Status]bool{}
	for _, s := range finalStatuses {
		inList[s] = true
	}
	for _, s := range all {
		if s.Final() != inList[s] {
			t.Errorf("status %q: Final() = %v, in finalStatuses = %v", s, s.Final(), inList[s])
		}
	}
}
