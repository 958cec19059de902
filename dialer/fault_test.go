package dialer_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// flakyStore fails UpdateLead while fail is set, as a database that went away between
// two statements.
type flakyStore struct {
	*dialertest.Store
	fail atomic.Bool
}

func (s *flakyStore) UpdateLead(ctx context.Context, u dialer.LeadUpdate) (bool, error) {
	if s.fail.Load() {
		return false, errors.New("database is locked")
	}
	return s.Store.UpdateLead(ctx, u)
}

// A lead that comes due while the store fails its first write is left as it was for a
// later look; the flow neither panics (it used to, on a nil cause) nor rings anyone,
// and the lead is dialled once the store is back.
func TestStoreFailsWhenLeadComesDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": accepts, customer: answers})
		flaky := &flakyStore{Store: e.store}
		e.svc = dialer.New(dialer.Options{Store: flaky, Caller: e.caller, Speaker: e.speaker, Recorder: e.rec, NodeID: "node-a"})
		e.svc.SetDealers([]dialer.Dealer{testDealer()})

		l := dialer.Lead{ID: "0190-due", Dealer: "jansen", Status: dialer.StatusQueued, Phone: customer, CreatedAt: time.Now()}
		if _, _, err := e.store.CreateLead(ctx, l, dialer.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		flaky.fail.Store(true)
		if _, err := e.svc.Watch(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := e.svc.Running(); n != 0 {
			t.Fatalf("%d flows running after a failed write; want the flow to step back", n)
		}
		if got, _ := e.store.GetLead(ctx, "jansen", l.ID); got.Status != dialer.StatusQueued || len(e.caller.Calls()) != 0 {
			t.Fatalf("status %s after %d calls; want queued and nobody rung", got.Status, len(e.caller.Calls()))
		}

		flaky.fail.Store(false)
		time.Sleep(11 * time.Second) // the released lease; the queue looks again
		if _, err := e.svc.Watch(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
		got := e.wait(t, l.ID)
		want := []string{"agent:piet:accepted", "customer:piet:answered"}
		if got.Status != dialer.StatusCompleted || !slices.Equal(results(got), want) {
			t.Errorf("status %s, attempts %q; want completed, %q", got.Status, results(got), want)
		}
	})
}

// panicker is a Caller whose every Dial panics, as a bug in the SIP layer would.
type panicker struct{ calls atomic.Int32 }

func (p *panicker) Dial(context.Context, string, dialer.DialOpts) (dialer.Leg, error) {
	p.calls.Add(1)
	panic("bug in the caller")
}

// A panic in a flow's goroutine ends that flow's legs, not the process: the lead goes
// on through its flow and finishes, and the service takes the next lead.
func TestPanicInLegDoesNotCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &panicker{}
		svc := dialer.New(dialer.Options{Store: dialertest.NewStore(), Caller: p, Speaker: &dialertest.Speaker{}, NodeID: "node-a"})
		svc.SetDealers([]dialer.Dealer{testDealer()})
		for range 2 {
			l, _, err := svc.Submit(context.Background(), "jansen", dialer.LeadInput{Phone: customer})
			if err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			got, _ := svc.Get(context.Background(), "jansen", l.ID)
			if got.Status != dialer.StatusExhausted || svc.Running() != 0 {
				t.Fatalf("status %s, %d running; want exhausted and none", got.Status, svc.Running())
			}
		}
		if n := p.calls.Load(); n != 2*4 {
			t.Errorf("%d dials, want 8 (each lead: piet, kees, anna, owner)", n)
		}
	})
}
