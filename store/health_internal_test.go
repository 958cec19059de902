package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestReadyDiskFull: a SQLite store whose disk has less than 1 MiB free is not ready,
// and says where and how much; with room it is.
func TestReadyDiskFull(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenAndMigrate(context.Background(), "sqlite://"+filepath.Join(dir, "leadline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	free, ok := diskFree(dir)
	if err := db.Ready(t.Context()); ok && free >= minFreeBytes && err != nil {
		t.Fatalf("Ready with %d bytes free: %v", free, err)
	}
	var asked string
	freeSpace = func(d string) (uint64, bool) { asked = d; return 12 << 10, true }
	t.Cleanup(func() { freeSpace = diskFree })
	err = db.Ready(t.Context())
	if want := "store: the disk holding " + dir + " is full: 12 KiB free, at least 1.0 MiB needed"; err == nil || err.Error() != want {
		t.Errorf("Ready = %v; want %q", err, want)
	}
	if asked != dir {
		t.Errorf("free space asked of %q, want %q", asked, dir)
	}
}

func TestCannotWrite(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"}, true},
		{&pgconn.PgError{Code: "58030", Message: "could not write to file"}, true},
		{&pgconn.PgError{Code: "25006", Message: "cannot execute INSERT in a read-only transaction"}, true},
		{fmt.Errorf("create lead: %w", &pgconn.PgError{Code: "XX001"}), true},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}, false},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}, false},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{errors.New("lead has no id"), false},
	} {
		if got := cannotWrite(tt.err); got != tt.want {
			t.Errorf("cannotWrite(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 12 << 10: "12 KiB", 1 << 20: "1.0 MiB", 3<<20 + 1<<19: "3.5 MiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
