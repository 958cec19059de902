package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
)

func TestBindings(t *testing.T) {
	each(t, func(t *testing.T, b backend) {
		db := mustOpen(t, b.newURL(t))
		ctx := t.Context()
		now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
		laptop := dialer.Binding{
			ID: "b1", User: "sanne", Dealer: "jansen", Person: "sanne", Key: "sip:sanne-x@10.0.0.5:5060",
			Contact: "sip:sanne-x@10.0.0.5:5060", Source: "203.0.113.7:40112", Transport: "udp", Node: "node-a",
			CallID: "c1@laptop", CSeq: 3, UserAgent: "baresip v1.0.0", Expires: now.Add(5 * time.Minute), Updated: now,
		}
		mobile := laptop
		mobile.ID, mobile.Key, mobile.Contact, mobile.Source, mobile.Transport, mobile.Node = "b2",
			"<urn:uuid:1e7b0a5c-0d0e-4f7a-9c5e-111111111111>", "sip:sanne@192.168.1.20:5062;transport=tcp", "198.51.100.9:51000", "tcp", "node-b"
		mobile.Updated = now.Add(time.Second)
		other := laptop
		other.ID, other.User, other.Person, other.Key = "b3", "kees", "kees", "sip:kees@10.0.0.6"
		for _, x := range []dialer.Binding{laptop, mobile, other} {
			if err := db.PutBinding(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(bs []dialer.Binding, err error) []string {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, x := range bs {
				out = append(out, x.ID)
			}
			return out
		}
		got, err := db.Bindings(ctx, "sanne", now)
		if err != nil || len(got) != 2 || got[0] != laptop || got[1] != mobile {
			t.Fatalf("Bindings = %+v, %v; want laptop and mobile as stored", got, err)
		}

		// A refresh replaces the binding with the same key and keeps its id.
		refresh := laptop
		refresh.ID, refresh.Source, refresh.CSeq, refresh.Expires, refresh.Updated = "b9", "203.0.113.7:40999", 4, now.Add(10*time.Minute), now.Add(2*time.Second)
		if err := db.PutBinding(ctx, refresh); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Bindings(ctx, "sanne", now)
		if len(got) != 2 || got[1].ID != "b1" || got[1].Source != "203.0.113.7:40999" || got[1].CSeq != 4 {
			t.Errorf("after refresh: %+v", got)
		}
		if got := ids(db.NodeBindings(ctx, "node-a", now)); !slices.Equal(got, []string{"b3", "b1"}) {
			t.Errorf("NodeBindings(node-a) = %q", got)
		}
		// Expired bindings are not returned, and purged.
		if got := ids(db.Bindings(ctx, "sanne", now.Add(6*time.Minute))); !slices.Equal(got, []string{"b1"}) {
			t.Errorf("after the mobile's expiry: %q", got)
		}
		if n, err := db.PurgeBindings(ctx, now.Add(6*time.Minute)); err != nil || n != 2 {
			t.Errorf("PurgeBindings = %d, %v; want 2 (mobile, kees)", n, err)
		}
		if err := db.DeleteBinding(ctx, "sanne", laptop.Key); err != nil {
			t.Fatal(err)
		}
		if got := ids(db.Bindings(ctx, "sanne", now)); len(got) != 0 {
			t.Errorf("after delete: %q", got)
		}
		for _, x := range []dialer.Binding{laptop, mobile} {
			if err := db.PutBinding(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.DeleteBindings(ctx, "sanne"); err != nil {
			t.Fatal(err)
		}
		if got := ids(db.Bindings(ctx, "sanne", now)); len(got) != 0 {
			t.Errorf("after delete all: %q", got)
		}
	})
}
