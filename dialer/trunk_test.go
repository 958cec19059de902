package dialer_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// Each attempt records the trunk its Caller says carried the leg (or refused it), and
// the dealer's privacy goes with the customer leg only.
func TestAttemptRecordsTrunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const kees = "+31611111111"
		e := newEnv(t, map[string]dialertest.Script{
			kees:                   {Ring: time.Second, Code: 486, Trunk: "kpn"},
			"sip:owner@192.0.2.13": accepts,
			customer:               {Ring: 4 * time.Second, HangUp: time.Minute, Trunk: "telnyx"},
		})
		d := testDealer()
		d.Privacy = "id"
		d.People["kees"] = dialer.Person{ID: "kees", Name: "Kees", Phone: kees}
		d.Flow = []dialer.Step{{People: []string{"kees"}}, {People: []string{"owner"}}}
		e.svc.SetDealers([]dialer.Dealer{d})
		l := e.submit(t, dialer.LeadInput{Phone: customer, Name: "Eva"})
		got := e.wait(t, l.ID)
		var trunks []string
		for _, a := range got.Attempts {
			trunks = append(trunks, a.Person+":"+a.Trunk)
		}
		if want := []string{"kees:kpn", "owner:", "owner:telnyx"}; !slices.Equal(trunks, want) {
			t.Errorf("attempts' trunks %q, want %q (%v)", trunks, want, results(got))
		}
		for _, c := range e.caller.Calls() {
			want := ""
			if c.Opts.Kind == dialer.LegCustomer {
				want = "id"
			}
			if c.Opts.Privacy != want {
				t.Errorf("%s leg to %s: privacy %q, want %q", c.Opts.Kind, c.Target, c.Opts.Privacy, want)
			}
		}
	})
}
