package dialer_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// TestReport walks a scripted week of three leads through the real flow (in virtual
// time) and checks the owner's report against what the scripts make happen:
//
//	lead 1 (website, Monday):   piet accepts → customer answers
//	lead 2 (facebook, Tuesday): piet busy → kees declines, anna lets it ring → owner accepts → customer answers
//	lead 3 (website, Friday):   piet's voicemail → kees and anna let it ring → owner too → exhausted
func TestReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		pietLater := dialertest.Script{Ring: time.Second, Code: 486, Then: &voicemail}
		keesLater, annaLater, ownerLater := never, never, never
		e := newEnv(t, map[string]dialertest.Script{
			"sip:piet@192.0.2.10":  {Ring: 3 * time.Second, Press: '1', After: 4 * time.Second, Then: &pietLater},
			"sip:kees@192.0.2.11":  {Ring: 2 * time.Second, Press: '2', After: time.Second, Then: &keesLater},
			"sip:anna@192.0.2.12":  {Never: true, Then: &annaLater},
			"sip:owner@192.0.2.13": {Ring: 6 * time.Second, Press: '1', After: 2 * time.Second, Then: &ownerLater},
			customer:               answers,
		})
		svc := dialer.New(dialer.Options{Store: e.store, Reports: e.store, Caller: e.caller, Speaker: e.speaker, NodeID: "node-a"})
		svc.SetDealers([]dialer.Dealer{testDealer()})
		start := time.Now() // synctest: Saturday 2000-01-01 00:00 UTC
		var first string
		for i, lead := range []struct {
			day    int
			source string
			status dialer.Status
		}{{2, "website", dialer.StatusCompleted}, {3, "facebook", dialer.StatusCompleted}, {6, "website", dialer.StatusExhausted}} {
			time.Sleep(time.Until(start.AddDate(0, 0, lead.day)))
			l, _, err := svc.Submit(ctx, "jansen", dialer.LeadInput{Phone: customer, Source: lead.source})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.wait(t, l.ID); got.Status != lead.status {
				t.Fatalf("lead %d: %s, attempts %q; want %s", i+1, got.Status, results(got), lead.status)
			}
			if i == 0 {
				first = l.ID
			}
		}

		// Piet said the first lead's call ended in an appointment.
		if err := e.store.SetOutcome(ctx, first, dialer.CallOutcome{ID: "appointment", Person: "piet", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		r, err := svc.ReportDays(ctx, "jansen", "2000-01-03", "2000-01-07")
		if err != nil {
			t.Fatal(err)
		}
		if r.Connected != 2 || r.ReachedOwner != 2 {
			t.Errorf("%d leads connected, %d reached the owner; want 2 and 2", r.Connected, r.ReachedOwner)
		}
		if r.Leads != 3 || !r.From.Equal(start.AddDate(0, 0, 2)) || !r.To.Equal(start.AddDate(0, 0, 7)) {
			t.Errorf("report of %d leads from %v to %v", r.Leads, r.From, r.To)
		}
		want := []dialer.PersonReport{
			{Person: "piet", Offered: 3, Answered: 2, Accepted: 1, Busy: 1, Missed: 1, MedianAnswer: 4 * time.Second, ToOwner: 2,
				Outcomes: map[string]int{"appointment": 1}},
			{Person: "kees", Offered: 2, Answered: 1, Declined: 1, Missed: 1, MedianAnswer: 2 * time.Second, ToOwner: 2},
			{Person: "anna", Offered: 2, Missed: 2, ToOwner: 2},
			{Person: "owner", Offered: 2, Answered: 1, Accepted: 1, Missed: 1, MedianAnswer: 6 * time.Second},
		}
		byID := map[string]dialer.PersonReport{}
		for _, p := range r.People {
			byID[p.Person] = p
		}
		for _, w := range want {
			if got := byID[w.Person]; !reflect.DeepEqual(got, w) {
				t.Errorf("%s:\n got %+v\nwant %+v", w.Person, got, w)
			}
		}
		if len(r.Sources) != 2 || r.Sources[0].Source != "website" || r.Sources[0].Leads != 2 || r.Sources[0].Connected != 1 ||
			r.Sources[1].Source != "facebook" || r.Sources[1].Leads != 1 || r.Sources[1].Connected != 1 {
			t.Fatalf("sources %+v; want website 2 leads 1 connected, facebook 1 and 1", r.Sources)
		}
		if r.Sources[0].MedianSpeed <= 0 || r.Sources[1].MedianSpeed <= r.Sources[0].MedianSpeed {
			t.Errorf("median speeds %v (website) and %v (facebook): the owner's lead took longer", r.Sources[0].MedianSpeed, r.Sources[1].MedianSpeed)
		}

		// Saturday's week before holds none of them; a bad date names its field.
		if r, err := svc.ReportDays(ctx, "jansen", "1999-12-25", "2000-01-01"); err != nil || r.Leads != 0 {
			t.Errorf("the week before: %d leads, %v", r.Leads, err)
		}
		var ve *dialer.ValidationError
		if _, err := svc.ReportDays(ctx, "jansen", "2000-13-01", ""); !errors.As(err, &ve) || ve.Fields[0].Field != "from" {
			t.Errorf("a bad date: %v", err)
		}
	})
}
