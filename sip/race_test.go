package sip_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/sip"
)

// A 200 OK that races the CANCEL after a ring timeout is ACKed and BYEd within a second
// (the sipp scenarios time out the ACK and BYE after 1 s each), whatever the CANCEL was
// answered, and Dial reports the ring timeout: the lead records the attempt as not
// answered.
func TestAnswerRacingCancel(t *testing.T) {
	for _, tt := range []struct{ name, scenario string }{
		{"cancel answered 200", "cancel_race_200.xml"},
		{"cancel answered 481", "cancel_race_481.xml"},
		{"fork answers after 487", "fork_after_487.xml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newUA(t, sip.Config{})
			peer := startSipp(t, tt.scenario, "u1", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			leg, err := u.Dial(ctx, peer.URI("kees", "u1"), opts(dialer.LegAgent))
			if leg != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Dial = %v, %v; want the ring timeout", leg, err)
			}
			peer.wait(t, 5*time.Second)
			wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
		})
	}
}

// A second 200 OK from a forked INVITE is ACKed and BYEd (RFC 3261 section 13.2.2.4); the
// leg keeps the first dialog, which stays up until Leadline hangs up.
func TestForkedAnswerHungUp(t *testing.T) {
	m, reg := newMetrics(t)
	u := newUA(t, sip.Config{Observer: m})
	peer := startSipp(t, "forked_200.xml", "u1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, peer.URI("kees", "u1"), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	// The answer to the fork's BYE is the last thing the fork does here: had the fork
	// ended the leg, it would have by then.
	wait.For(t, 5*time.Second, "the fork's BYE answered", func() bool {
		return metricValue(t, reg, "leadline_sip_responses_total", "method", "BYE", "code", "200") == 1
	})
	select {
	case <-leg.Done():
		t.Fatalf("leg ended with the fork: %v", leg.Err())
	default:
	}
	leg.Hangup(ctx)
	peer.wait(t, 5*time.Second)
	wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
}

// More than ten provisional responses do not orphan the answer (NOTES: sipgo pitfall 2).
func TestManyProvisionalsThenAnswer(t *testing.T) {
	u := newUA(t, sip.Config{})
	peer := startSipp(t, "provisionals.xml", "u1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, peer.URI("kees", "u1"), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(peer.messages(), "SIP/2.0 18"); n < 14 {
		t.Errorf("peer sent %d provisional responses, want 14", n)
	}
	leg.Hangup(ctx)
	peer.wait(t, 5*time.Second)
}

// Hangup reports a BYE the far end did not confirm (here 481) and ends the leg all the
// same; hanging up again is a no-op.
func TestHangupReportsBYEFailure(t *testing.T) {
	u := newUA(t, sip.Config{})
	peer := startSipp(t, "bye_481.xml", "u1", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, peer.URI("kees", "u1"), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	if err := leg.Hangup(ctx); err == nil || !strings.Contains(err.Error(), "481") {
		t.Errorf("Hangup = %v, want the BYE's 481", err)
	}
	wait.Closed(t, leg.Done(), 5*time.Second, "the leg to end")
	if err := leg.Hangup(ctx); err != nil {
		t.Errorf("second Hangup = %v, want nil", err)
	}
	peer.wait(t, 5*time.Second)
	wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
}
