package dialer_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// Every submission is counted by channel with what became of it, and a lead dialled as
// it arrived has its time to the first INVITE measured, from when it arrived.
func TestIntakeIsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := newEnv(t, map[string]dialertest.Script{"sip:piet@192.0.2.10": accepts, customer: answers})
		arrived := time.Now().Add(-40 * time.Millisecond)
		in := dialer.LeadInput{Phone: customer, Channel: dialer.ChannelEmail, Sender: "crm@example.com",
			MessageID: "m1@example.com", IdempotencyKey: "msgid:m1@example.com", ReceivedAt: arrived,
			Original: dialer.NewOriginal("message/rfc822", []byte("Subject: lead\r\n\r\n…"))}
		l, out, err := e.svc.Submit(ctx, "jansen", in)
		if err != nil || out != dialer.OutcomeCreated || l.Channel != dialer.ChannelEmail || l.Sender != "crm@example.com" {
			t.Fatalf("Submit = %+v, %v, %v", l, out, err)
		}
		if _, out, _ := e.svc.Submit(ctx, "jansen", in); out != dialer.OutcomeRepeat {
			t.Errorf("the same message again: %v, want a repeat", out)
		}
		if _, _, err := e.svc.Submit(ctx, "jansen", dialer.LeadInput{Phone: "12", Channel: dialer.ChannelEmail}); err == nil {
			t.Error("a bad number was taken")
		}
		if _, _, err := e.svc.Submit(ctx, "jansen", dialer.LeadInput{Phone: customer, Channel: "pigeon"}); err == nil {
			t.Error("an unknown channel was taken")
		}
		e.wait(t, l.ID)
		if o, err := e.svc.Original(ctx, "jansen", l.ID); err != nil || string(o.Body) != "Subject: lead\r\n\r\n…" {
			t.Errorf("Original = %v, %v", o, err)
		}

		e.rec.mu.Lock()
		defer e.rec.mu.Unlock()
		want := []string{"email:created", "email:repeat", "email:invalid", "pigeon:invalid"}
		if !slices.Equal(e.rec.intake, want) {
			t.Errorf("intake %q, want %q", e.rec.intake, want)
		}
		if !slices.Equal(e.rec.invites, []string{"email"}) {
			t.Errorf("first INVITEs measured %q, want one for email", e.rec.invites)
		}
	})
}

// A message with no lead is kept with its reason and counted; with the store down it is
// not, and the caller is told so that the sender tries again.
func TestReject(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	svc := dialer.New(dialer.Options{Store: e.store, Archive: e.store, Caller: e.caller, Speaker: e.speaker, Recorder: e.rec})
	svc.SetDealers([]dialer.Dealer{testDealer()})
	r, err := svc.Reject(ctx, dialer.Rejection{Dealer: "jansen", Channel: dialer.ChannelEmail, MessageID: "x@y",
		Reason:   "no lead found: no ADF, no AutoScout24 notification, no rule for this sender",
		Original: dialer.NewOriginal("message/rfc822", []byte("Subject: x\r\n\r\nhi"))})
	if err != nil || r.ID == "" || r.ReceivedAt.IsZero() || r.Size != 16 {
		t.Fatalf("Reject = %+v, %v", r, err)
	}
	if got, err := svc.Rejection(ctx, "jansen", r.ID); err != nil || got.Reason != r.Reason {
		t.Errorf("Rejection = %+v, %v", got, err)
	}
	if _, err := svc.Reject(ctx, dialer.Rejection{Dealer: "jansen", Channel: dialer.ChannelEmail, MessageID: "x@y", Reason: "again"}); err != nil {
		t.Errorf("the same message rejected again: %v", err)
	}
	if _, err := svc.Reject(ctx, dialer.Rejection{Dealer: "nobody", Reason: "x"}); !errors.Is(err, dialer.ErrNotFound) {
		t.Errorf("a rejection for an unknown dealer: %v", err)
	}
	e.store.Down = true
	if _, err := svc.Reject(ctx, dialer.Rejection{Dealer: "jansen", Channel: dialer.ChannelEmail, Reason: "x"}); !errors.Is(err, dialer.ErrUnavailable) {
		t.Errorf("Reject with the store down: %v, want ErrUnavailable", err)
	}
	if want := []string{"email:rejected", "email:repeat", "email:unavailable"}; !slices.Equal(e.rec.intake, want) {
		t.Errorf("intake %q, want %q", e.rec.intake, want)
	}
}
