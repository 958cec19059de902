package sip_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/sip"
)

// Session timers (RFC 4028) set by the 200 OK: as the refresher Leadline refreshes
// before expiry, with UPDATE when allowed and re-INVITE otherwise (the sipp scenarios
// fail unless each refresh comes within 1.8 s of a 2 s interval), and the call stays up.
func TestSessionTimerLeadlineRefreshes(t *testing.T) {
	for _, scenario := range []string{"session_timer_uac_update.xml", "session_timer_uac_reinvite.xml"} {
		t.Run(scenario, func(t *testing.T) {
			u := newUA(t, sip.Config{})
			peer := startSipp(t, scenario, "u1", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			leg, err := u.Dial(ctx, peer.URI("kees", "u1"), opts(dialer.LegAgent))
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-leg.Done():
				t.Fatalf("leg ended: %v", leg.Err())
			case <-time.After(2500 * time.Millisecond): // past the first expiry, after two refreshes (at 1 s and 2 s)
			}
			leg.Hangup(ctx)
			peer.wait(t, 5*time.Second)
		})
	}
}

// When the far end is the refresher, its refreshes (re-INVITE, then UPDATE) keep the
// call up past the first expiry; when they stop, Leadline hangs up before the session
// expires (RFC 4028 section 10): 3 s after the last refresh less 1 s.
func TestSessionTimerFarEndStopsRefreshing(t *testing.T) {
	u := newUA(t, sip.Config{})
	peer := startSipp(t, "session_timer_uas.xml", "u1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, peer.URI("kees", "u1"), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-leg.Done():
	case <-ctx.Done():
		t.Fatal("leg outlived its session")
	}
	// Not before the session could have expired; how much later is the machine's load.
	if d := time.Since(start); d < 4500*time.Millisecond {
		t.Errorf("leg ended after %v, want about 5 s (two refreshes, then 3 s - 1 s)", d)
	}
	if !errors.Is(leg.Err(), sip.ErrSessionExpired) {
		t.Errorf("leg ended with %v", leg.Err())
	}
	peer.wait(t, 5*time.Second)
}
