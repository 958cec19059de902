package main

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// Salespeople's own softphones (issue 13): they register to Leadline, every device of a
// person rings at once, the first to press 1 wins.

const (
	rtpSoftphone = "25000-25099"
	rtpBaresip   = "25100-25199"
	rtpLinphone  = "25200-25299"
	rtpSoftScan  = "25300-25399"

	sannePassword = "sanne-pw-7f3k2q9d"
)

// register signs p in as user and fails the test unless it gets 200.
func register(t *testing.T, p *simphone.Phone, at netip.AddrPort, user, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := p.Register(ctx, at, user, password, 600)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%s registering as %s: %v %v", p.Name, user, res, err)
	}
}

// TestSoftphoneDevicesRingAtOnce: sanne's laptop and mobile both register; a lead rings
// both at once, the mobile presses 1 first and is bridged to the customer, the laptop
// (which would press 1 later) is hung up. Her phones' INVITEs to Leadline are refused.
func TestSoftphoneDevicesRingAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	laptop := newPhone(t, "sanne-laptop", simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 900, Key: '1', KeyAfter: 4 * time.Second})
	mobile := newPhone(t, "sanne-mobile", simphone.Behaviour{Ring: 500 * time.Millisecond, Tone: 1000, Key: '1', KeyAfter: time.Second})
	owner := newPhone(t, "owner", simphone.Behaviour{Never: true})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 1500, HangUp: 2 * time.Second})
	ta := startTestApp(t, appSpec{
		rtp:          rtpSoftphone,
		trunk:        carrier.Addr().String(),
		people:       []person{{"sanne", "Sanne Mulder", "registered"}, {"owner", "Jan Jansen", owner.URI()}},
		sipPasswords: map[string]string{"sanne": sannePassword},
		flow:         "[sanne, owner]",
		ring:         8 * time.Second,
		accept:       6 * time.Second,
	})
	for _, p := range []*simphone.Phone{laptop, mobile} {
		register(t, p, ta.ua.Addr(), "sanne", sannePassword)
	}
	wait.For(t, 5*time.Second, "the registrations gauge", func() bool {
		v, ok := metricValue(ta.metrics(t), `leadline_registrations{dealer="jansen"}`)
		return ok && v == 2
	})

	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	l := ta.waitFinal(t, id, 30*time.Second)
	if l.Status != "completed" {
		t.Fatalf("status %q (%s); attempts %v", l.Status, l.Reason, summarize(l))
	}
	got := summarize(l)
	slices.SortFunc(got, func(a, b attemptSummary) int { return cmpAttempt(a, b) })
	want := []attemptSummary{{"agent", "sanne", "accepted"}, {"agent", "sanne", "canceled"}, {"customer", "sanne", "answered"}}
	if !slices.Equal(got, want) {
		t.Errorf("attempts %v, want %v", got, want)
	}
	lc, mc := laptop.Calls(), mobile.Calls()
	if len(lc) != 1 || len(mc) != 1 || len(owner.Calls()) != 0 {
		t.Fatalf("calls: laptop %d, mobile %d, owner %d; want 1, 1, 0", len(lc), len(mc), len(owner.Calls()))
	}
	// The laptop answered at once and was hung up by Leadline when the mobile won (or,
	// on a very slow machine, was canceled while it rang).
	wait.Closed(t, lc[0].Done(), 5*time.Second, "the laptop's call to end")
	if lc[0].HungUpByPhone() {
		t.Error("the laptop hung up itself; Leadline should have ended its call")
	}
	if mc[0].Header("X-Leadline-Lead") != id || lc[0].Header("X-Leadline-Lead") != id {
		t.Error("an INVITE to a device lacks X-Leadline-Lead")
	}
	// The mobile, bridged, heard the customer's 1500 Hz at the end.
	if h := mc[0].Heard(); len(h) < 8000 || simphone.Level(h[len(h)-4000:], 1500) < 0.5 {
		t.Errorf("the mobile did not hear the customer at the end (%d samples)", len(h))
	}

	// Leadline only places calls: an INVITE from a registered phone is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := mobile.Invite(ctx, ta.ua.Addr(), customer)
	if err != nil || res.StatusCode != 403 {
		t.Errorf("INVITE from a registered phone: %v %v; want 403", res, err)
	}
	if n := len(callsTo(carrier, customer)); n != 1 {
		t.Errorf("the customer got %d calls, want 1", n)
	}
}

func cmpAttempt(a, b attemptSummary) int {
	for _, c := range [][2]string{{a.Leg, b.Leg}, {a.Person, b.Person}, {a.Result, b.Result}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}
