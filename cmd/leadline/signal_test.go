package main

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

// TestSignalled: the first signal ends the first context only, the second the other.
func TestSignalled(t *testing.T) {
	first, second := signalled(syscall.SIGUSR1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	wait.Closed(t, first.Done(), 5*time.Second, "the first signal to end the first context")
	if second.Err() != nil {
		t.Fatal("the first signal ended the second context too")
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	wait.Closed(t, second.Done(), 5*time.Second, "the second signal to end the second context")
}

// TestSecondSignalEndsDrain: after the first signal a bridged call goes on (the drain
// lets calls finish); the second ends the drain at once: both legs are hung up and run
// returns, long before the drain's time is up.
func TestSecondSignalEndsDrain(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time calls; skipped with -short")
	}
	piet := newPhone(t, "piet", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond, Tone: 700})
	carrier := newPhone(t, "carrier", simphone.Behaviour{Never: true})
	const customer = "+31612345678"
	carrier.Behave(customer, simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500})
	now, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	ta := startTestApp(t, appSpec{
		rtp:     rtpResume,
		trunk:   carrier.Addr().String(),
		people:  []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:    "[piet]",
		drain:   time.Minute,
		stopNow: now,
	})
	id := ta.postLead(t, map[string]string{"name": "Eva Jansen", "phone": "06-12345678"})
	wait.For(t, 15*time.Second, "the call to be bridged", func() bool { return ta.lead(t, id).Status == "connected" })

	stopped := make(chan error, 1)
	go func() { stopped <- ta.stop() }()
	wait.For(t, 5*time.Second, "readiness to report the drain", func() bool { return ta.svc.Draining() })
	cust := callsTo(carrier, customer)[0]
	select {
	case <-cust.Done():
		t.Fatal("the first signal hung up a bridged call; the drain should let it finish")
	case <-time.After(time.Second):
	}

	stopNow()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after the second signal")
	}
	wait.Closed(t, cust.Done(), 5*time.Second, "the customer's call to be hung up")
	wait.Closed(t, piet.Calls()[0].Done(), 5*time.Second, "the salesperson's call to be hung up")
}
