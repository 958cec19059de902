package dialer_test

import (
	"slices"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// Which status change is which event: the table the store applies.
func TestStatusEvent(t *testing.T) {
	for s, want := range map[dialer.Status]dialer.EventType{
		dialer.StatusQueued:              "",
		dialer.StatusDialing:             "",
		dialer.StatusScheduled:           dialer.EventScheduled,
		dialer.StatusConnected:           dialer.EventConnected,
		dialer.StatusCompleted:           dialer.EventCompleted,
		dialer.StatusExhausted:           dialer.EventExhausted,
		dialer.StatusCustomerUnreachable: dialer.EventCustomerUnreachable,
		dialer.StatusCanceled:            dialer.EventCanceled,
		dialer.StatusFailed:              dialer.EventFailed,
	} {
		if got := s.Event(); got != want {
			t.Errorf("%s.Event() = %q, want %q", s, got, want)
		}
		if want != "" && !want.Valid() {
			t.Errorf("%s is not in EventTypes", want)
		}
	}
	if got := dialer.CreatedEvents(dialer.StatusDialing); !slices.Equal(got, []dialer.EventType{dialer.EventReceived}) {
		t.Errorf("CreatedEvents(dialing) = %q", got)
	}
	if got := dialer.CreatedEvents(dialer.StatusScheduled); !slices.Equal(got, []dialer.EventType{dialer.EventReceived, dialer.EventScheduled}) {
		t.Errorf("CreatedEvents(scheduled) = %q", got)
	}
	if dialer.EventType("lead.created").Valid() {
		t.Error("an unknown event type is valid")
	}
}

// A refused leg's final SIP status decides its attempt's result.
func TestRefusedBy(t *testing.T) {
	for code, want := range map[int]error{
		486: dialer.ErrBusy, 600: dialer.ErrBusy,
		408: dialer.ErrNoAnswer, 480: dialer.ErrNoAnswer, 487: dialer.ErrNoAnswer,
		403: dialer.ErrRejected, 404: dialer.ErrRejected, 488: dialer.ErrRejected, 503: dialer.ErrRejected, 603: dialer.ErrRejected,
	} {
		if got := dialer.RefusedBy(code); got != want {
			t.Errorf("RefusedBy(%d) = %v, want %v", code, got, want)
		}
	}
}
