package sip

import (
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

// Is classifies the code (RFC 3261 section 21).
func (e *StatusError) Is(target error) bool {
	return target == classify(e.Code)
}

func classify(code int) error {
	switch code {
	case 486, 600: // Busy Here, Busy Everywhere
		return dialer.ErrBusy
	case 408, 480, 487: // Request Timeout, Temporarily Unavailable, Request Terminated
		return dialer.ErrNoAnswer
	}
	return dialer.ErrRejected
}
