package main

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/store"
)

// TestRestartResumesLead stops Leadline while the first salesperson's phone rings and
// starts a new one on the same SQLite file: the lead resumes at the next step without
// ringing piet again, and the customer is dialled exactly once.
func TestRestartResumesLead(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	owner := newPhone(t, "owner", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 500 * time.Millisecond, Tone: 700})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: time.Second})

	db := filepath.Join(t.TempDir(), "leadline.db")
	spec := appSpec{
		db:     db,
		rtp:    rtpResume,
		trunk:  carrier.Addr().String(),
		people: []person{{"piet", "Piet de Vries", piet.URI()}, {"owner", "Jan Jansen", owner.URI()}},
		flow:   "[piet, owner]",
		ring:   30 * time.Second,
		accept: 3 * time.Second,
		drain:  200 * time.Millisecond,
		nodeID: "node-before",
	}
	first := startTestApp(t, spec)
	id := first.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	wait.For(t, 5*time.Second, "piet's phone to ring", func() bool { return len(piet.Calls()) == 1 })
	stopped := time.Now()
	if err := first.stop(); err != nil {
		t.Fatalf("stopping the first app: %v", err)
	}
	t.Logf("first app stopped in %v", time.Since(stopped).Round(time.Millisecond))
	// Stopping hung up: piet's phone stopped ringing (CANCEL), it was not left ringing.
	wait.Closed(t, piet.Calls()[0].Done(), 2*time.Second, "piet's phone to stop ringing after the stop")

	// Between the two runs, the file says the lead is unfinished.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := store.Open(ctx, "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := st.GetLead(ctx, testDealer, id)
	if err != nil {
		t.Fatal(err)
	}
	var leaseNode string
	err = st.SQL().QueryRowContext(ctx, "SELECT lease_node FROM leads WHERE id = $1", id).Scan(&leaseNode)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	if mid.Status.Final() {
		t.Fatalf("after the stop the lead is %s; want it unfinished, to resume", mid.Status)
	}
	// A clean shutdown released the lease, so nothing needs to wait for takeover_after:
	// README promises the lead resumes when the server starts again, and every second
	// here is a second of speed to lead.
	if leaseNode != "" {
		t.Errorf("after a clean stop the lead's lease is still %s's; want it released", leaseNode)
	}
	if len(owner.Calls()) != 0 || len(carrier.Calls()) != 0 {
		t.Fatalf("before the restart: owner rung %d times, carrier %d; want 0", len(owner.Calls()), len(carrier.Calls()))
	}

	spec.nodeID = "node-after"
	restarted := time.Now()
	second := startTestApp(t, spec)
	wait.For(t, 30*time.Second, "the owner's phone to ring after the restart", func() bool { return len(owner.Calls()) > 0 })
	t.Logf("lead resumed (owner rung) %v after the restart", time.Since(restarted).Round(10*time.Millisecond))
	l := second.waitFinal(t, id, 30*time.Second)

	want := []attemptSummary{
		{"agent", "piet", "failed"},
		{"agent", "owner", "accepted"},
		{"customer", "owner", "answered"},
	}
	if got := summarize(l); !slices.Equal(got, want) {
		t.Errorf("attempts:\n got %v\nwant %v", got, want)
	}
	if l.Status != "completed" {
		t.Errorf("status %q (%s), want completed", l.Status, l.Reason)
	}
	if n := len(piet.Calls()); n != 1 {
		t.Errorf("piet was rung %d times, want once (not again after the restart)", n)
	}
	if n := len(owner.Calls()); n != 1 {
		t.Errorf("owner was rung %d times, want once", n)
	}
	if n := len(callsTo(carrier, customer)); n != 1 {
		t.Errorf("customer dialled %d times, want exactly once", n)
	}
	if l.SpeedToLeadSeconds == nil || *l.SpeedToLeadSeconds <= 0 {
		t.Errorf("speed_to_lead_seconds %v, want > 0", l.SpeedToLeadSeconds)
	}
}
