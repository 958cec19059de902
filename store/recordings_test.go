package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

// TestRecordings: a recording noted with its lead shows in the lead, expires by the
// clock given, and once deleted the lead says when and why.
func TestRecordings(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := newDB(t, b)
		ctx := t.Context()
		l := mustCreate(t, db, newLead("jansen"))
		other := mustCreate(t, db, newLead("jansen"))
		start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		info := dialer.RecordingInfo{Key: "jansen/" + l.ID + ".wav", StartedAt: start, ExpiresAt: start.Add(90 * 24 * time.Hour)}
		if err := db.RecordingStarted(ctx, l.ID, info); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordingFinished(ctx, l.ID, 3500*time.Millisecond, 56044); err != nil {
			t.Fatal(err)
		}
		got, err := db.GetLead(ctx, "jansen", l.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.Recording; r == nil || r.Duration != 3500*time.Millisecond || r.Bytes != 56044 || !r.ExpiresAt.Equal(info.ExpiresAt) || r.Key != info.Key {
			t.Fatalf("lead's recording %+v", got.Recording)
		}
		if o, _ := db.GetLead(ctx, "jansen", other.ID); o.Recording != nil {
			t.Fatalf("a lead without a recording shows %+v", o.Recording)
		}
		if _, err := db.Recording(ctx, "another", l.ID); !errors.Is(err, dialer.ErrNotFound) {
			t.Fatalf("another dealer's recording: %v", err)
		}
		if exp, err := db.ExpiredRecordings(ctx, info.ExpiresAt.Add(-time.Second), 10); err != nil || len(exp) != 0 {
			t.Fatalf("expired a second early: %v %v", exp, err)
		}
		exp, err := db.ExpiredRecordings(ctx, info.ExpiresAt, 10)
		if err != nil || len(exp) != 1 || exp[0].LeadID != l.ID || exp[0].Key != info.Key {
			t.Fatalf("expired at expiry: %v %v", exp, err)
		}
		if err := db.RecordingDeleted(ctx, l.ID, dialer.DeletedRetention, info.ExpiresAt); err != nil {
			t.Fatal(err)
		}
		if err := db.RecordingDeleted(ctx, l.ID, dialer.DeletedErasure, info.ExpiresAt); !errors.Is(err, dialer.ErrNotFound) {
			t.Fatalf("deleting twice: %v", err)
		}
		if exp, _ := db.ExpiredRecordings(ctx, info.ExpiresAt.Add(time.Hour), 10); len(exp) != 0 {
			t.Fatalf("a deleted recording expires again: %v", exp)
		}
		got, _ = db.GetLead(ctx, "jansen", l.ID)
		if r := got.Recording; r == nil || r.DeletedReason != dialer.DeletedRetention || !r.DeletedAt.Equal(info.ExpiresAt) {
			t.Fatalf("deleted recording shows %+v", got.Recording)
		}
		if err := db.RecordingFinished(ctx, other.ID, time.Second, 1); !errors.Is(err, dialer.ErrNotFound) {
			t.Fatalf("finishing a recording never started: %v", err)
		}
	})
}
