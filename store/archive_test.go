package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/leadline/leadline/dialer"
)

// An original is written with its lead, in the lead's transaction, and read back only
// by the lead's dealer; a repeat writes nothing.
func TestOriginal(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		raw := bytes.Repeat([]byte("Subject: lead\r\n\r\n<adf>…</adf>\r\n"), 3)
		orig := &dialer.Original{ContentType: "message/rfc822", Body: raw[:40], Size: int64(len(raw))}
		l := newLead("jansen")
		l.Channel, l.MessageID, l.IdempotencyKey = dialer.ChannelEmail, "m1@example.com", "msgid:m1@example.com"
		if _, out, err := db.CreateLead(ctx, l, dialer.CreateOptions{Original: orig}); err != nil || out != dialer.OutcomeCreated {
			t.Fatalf("CreateLead = %v, %v", out, err)
		}
		got, err := db.Original(ctx, "jansen", l.ID)
		if err != nil {
			t.Fatal(err)
		}
		equal(t, "original", got, orig)
		if !got.Truncated() {
			t.Error("a cut original does not say so")
		}
		if _, err := db.Original(ctx, "other", l.ID); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("another dealer's original: %v, want ErrNotFound", err)
		}
		bare := mustCreate(t, db, newLead("jansen"))
		if _, err := db.Original(ctx, "jansen", bare.ID); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("a lead without an original: %v, want ErrNotFound", err)
		}

		// The same message again is a repeat of the lead and keeps nothing new.
		again := newLead("jansen")
		again.IdempotencyKey = l.IdempotencyKey
		other := &dialer.Original{ContentType: "message/rfc822", Body: []byte("other"), Size: 5}
		if first, out, err := db.CreateLead(ctx, again, dialer.CreateOptions{Original: other}); err != nil || out != dialer.OutcomeRepeat || first.ID != l.ID {
			t.Fatalf("CreateLead of the same message = %v, %v, %v; want a repeat of %s", first.ID, out, err, l.ID)
		}
		if _, err := db.Original(ctx, "jansen", again.ID); !errors.Is(err, dialer.ErrNotFound) {
			t.Errorf("a repeat kept an original: %v", err)
		}
	})
}

// Rejections are kept once per dealer and Message-ID, listed newest first in pages, and
// read one by one with their originals by their dealer only.
func TestRejections(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		var ids []string
		for i, mid := range []string{"a@x", "b@x", "", "a@x"} {
			r := dialer.Rejection{
				ID: uuid.Must(uuid.NewV7()).String(), Dealer: "jansen", Channel: dialer.ChannelEmail,
				ReceivedAt: t0.Add(time.Duration(i) * time.Second), Sender: "portal@example.com", MessageID: mid,
				Subject: "Lead", Reason: "no phone number in the message",
				Original: &dialer.Original{ContentType: "message/rfc822", Body: []byte("Subject: Lead\r\n\r\nhi"), Size: 19},
			}
			kept, err := db.InsertRejection(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if want := i != 3; kept != want { // the fourth repeats the first's Message-ID
				t.Errorf("rejection %d kept = %v, want %v", i, kept, want)
			}
			ids = append(ids, r.ID)
		}
		page, next, err := db.Rejections(ctx, "jansen", 2, "")
		if err != nil || len(page) != 2 || next == "" || page[0].ID != ids[2] || page[1].ID != ids[1] {
			t.Fatalf("first page %+v, next %q, %v; want the third then the second", page, next, err)
		}
		page, next, err = db.Rejections(ctx, "jansen", 2, next)
		if err != nil || len(page) != 1 || next != "" || page[0].ID != ids[0] {
			t.Fatalf("second page %+v, next %q, %v; want the first (the fourth repeated its Message-ID)", page, next, err)
		}
		if page[0].Original != nil || page[0].Size != 19 || page[0].Reason == "" || page[0].Channel != dialer.ChannelEmail || !page[0].ReceivedAt.Equal(t0) {
			t.Errorf("listed rejection %+v", page[0])
		}
		r, err := db.Rejection(ctx, "jansen", ids[0])
		if err != nil || r.Original == nil || string(r.Original.Body) != "Subject: Lead\r\n\r\nhi" || r.Original.Size != 19 || r.Size != 19 || r.MessageID != "a@x" {
			t.Errorf("Rejection = %+v, %v", r, err)
		}
		for _, c := range []struct{ dealer, id string }{{"other", ids[0]}, {"jansen", ids[3]}} {
			if _, err := db.Rejection(ctx, c.dealer, c.id); !errors.Is(err, dialer.ErrNotFound) {
				t.Errorf("Rejection(%q, %q) = %v, want ErrNotFound", c.dealer, c.id, err)
			}
		}
		if rs, _, err := db.Rejections(ctx, "other", 10, ""); err != nil || len(rs) != 0 {
			t.Errorf("another dealer's list: %v, %v", rs, err)
		}
	})
}
