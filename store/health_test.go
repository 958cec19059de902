package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/store"
)

// fillUp makes db's database unable to grow, as a full disk does, and creates leads
// until one fails; it returns that error. PRAGMA max_page_count on the writer (the one
// connection every write takes) makes SQLite refuse a new page with SQLITE_FULL,
// "database or disk is full", the error a full disk gives, while writes that need no
// new page still succeed, as they do on a full disk.
func fillUp(t *testing.T, db *store.DB) error {
	t.Helper()
	ctx := context.Background()
	var pages int
	if err := db.SQL().QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, "PRAGMA max_page_count = "+strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		l := newLead("jansen")
		l.Message = strings.Repeat("m", 1500)
		if _, _, err := db.CreateLead(ctx, l, dialer.CreateOptions{}); err != nil {
			return err
		}
	}
	t.Fatal("1000 leads written on a database that cannot grow")
	return nil
}

// TestReadyWhenLeadsCannotBeWritten: once a lead could not be written because the
// database is full, Ready says so, with SQLite's words, although a ping (and a small
// update) still succeed; once a lead is written again, Ready is nil.
func TestReadyWhenLeadsCannotBeWritten(t *testing.T) {
	db := mustOpen(t, sqliteURL(t))
	ctx := context.Background()
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready on a new store: %v", err)
	}
	err := fillUp(t, db)
	if !strings.Contains(err.Error(), "database or disk is full") {
		t.Fatalf("CreateLead on a full database: %v; want SQLITE_FULL", err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := db.SQL().ExecContext(ctx, "UPDATE leads SET reason = 'probe' WHERE id = (SELECT max(id) FROM leads)"); err != nil {
		t.Logf("a small update fails too: %v", err)
	}
	err = db.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "a lead could not be written") || !strings.Contains(err.Error(), "database or disk is full") {
		t.Fatalf("Ready = %v; want it to say a lead could not be written: database or disk is full", err)
	}
	// Room again: the next lead is written, and the store is ready.
	if _, err := db.SQL().ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, db, newLead("jansen"))
	if err := db.Ready(ctx); err != nil {
		t.Errorf("Ready after a lead was written again: %v", err)
	}
}
