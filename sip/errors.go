package sip

import (
	"errors"
	"fmt"

	"github.com/leadline/leadline/dialer"
)

// StatusError is a final non-2xx answer to an INVITE. It matches dialer.ErrBusy,
// dialer.ErrNoAnswer or dialer.ErrRejected with errors.Is.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string { return fmt.Sprintf("sip %d %s", e.Code, e.Reason) }

// SIPCode returns the status code; the dialer records it with the attempt.
func (e *StatusError) SIPCode() int { return e.Code }

// Is classifies the code as dialer.RefusedBy does.
func (e *StatusError) Is(target error) bool {
	return target == dialer.RefusedBy(e.Code)
}

// ErrSessionExpired ends a leg whose session timer (RFC 4028) ran out: the far end, the
// refresher, did not refresh it, or our refresh failed with 408 or 481.
var ErrSessionExpired = errors.New("sip: session expired")
