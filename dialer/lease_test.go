package dialer_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// One renewal keeps every flow's lease alive; a flow whose lead another node took over,
// or canceled, stops at the next renewal and hangs up its calls.
func TestLeaseRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": {Ring: time.Second}})
		d := testDealer()
		d.Flow = []dialer.Step{{People: []string{"piet"}}}
		d.RingTimeout, d.AcceptTimeout = time.Minute, 10*time.Minute // piet answers, listens and never presses a key
		e.svc.SetDealers([]dialer.Dealer{d})
		var ids []string
		for _, phone := range []string{"+31612345671", "+31612345672", "+31612345673"} {
			ids = append(ids, e.submit(t, dialer.LeadInput{Phone: phone}).ID)
		}
		// Well past the 10 s lease: every lead is still this node's.
		time.Sleep(time.Minute)
		for _, id := range ids {
			if _, err := e.store.Claim(ctx, id, "node-b", time.Now(), time.Now().Add(time.Minute)); err == nil {
				t.Fatalf("node-b took lead %s over from a live node", id)
			}
		}

		// Another node takes the first lead over (as if this node's lease had lapsed), and
		// the second is canceled elsewhere.
		if _, err := e.store.Claim(ctx, ids[0], "node-b", time.Now().Add(time.Hour), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.UpdateLead(ctx, dialer.LeadUpdate{ID: ids[1], Status: dialer.StatusCanceled, EndedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // a renewal: a third of the lease
		legs := map[string]*dialertest.Leg{}
		for _, c := range e.caller.Calls() {
			legs[c.Opts.LeadID] = c.Leg
		}
		for i, id := range ids[:2] {
			if !legs[id].HungUpByUs() {
				t.Errorf("lead %d: its call goes on after the lead was %s", i, []string{"taken over", "canceled"}[i])
			}
		}
		if legs[ids[2]].HungUpByUs() {
			t.Error("the third lead's call was hung up")
		}
		if got, _ := e.svc.Get(ctx, "jansen", ids[0]); got.Status.Final() {
			t.Errorf("the lead taken over is %s; its new node goes on with it", got.Status)
		}
		e.svc.Cancel(ctx, "jansen", ids[2])
		e.wait(t, ids[2])
	})
}
