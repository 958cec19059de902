//go:build linux

package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/store"
)

// TestReadyOnAFullDisk fills a real 2 MiB file system with leads: Ready says the disk is
// full before the first lead is refused, and still says so after. It mounts a tmpfs,
// so it runs only as root and when LEADLINE_TEST_TMPFS is set.
func TestReadyOnAFullDisk(t *testing.T) {
	if os.Getenv("LEADLINE_TEST_TMPFS") == "" {
		t.Skip("mounts a tmpfs; as root, set LEADLINE_TEST_TMPFS=1 to run it")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	ctx := context.Background()
	db, err := store.OpenAndMigrate(ctx, "sqlite://"+filepath.Join(dir, "leadline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready on an empty disk: %v", err)
	}
	var notReady error
	for n := 0; ; n++ {
		if n > 10000 {
			t.Fatal("10000 leads on a 2 MiB disk")
		}
		l := newLead("jansen")
		l.Message = strings.Repeat("m", 1500)
		if _, _, err := db.CreateLead(ctx, l, dialer.CreateOptions{}); err != nil {
			t.Logf("lead %d refused: %v", n, err)
			if !strings.Contains(err.Error(), "database or disk is full") {
				t.Errorf("CreateLead: %v; want SQLITE_FULL", err)
			}
			break
		}
		if notReady == nil {
			notReady = db.Ready(ctx)
		}
	}
	if notReady == nil || !strings.Contains(notReady.Error(), "is full") {
		t.Errorf("Ready before the first lead was refused: %v; want the disk full", notReady)
	}
	if err := db.Ready(ctx); err == nil || !strings.Contains(err.Error(), "is full") {
		t.Errorf("Ready after: %v", err)
	}
	t.Logf("Ready: %v", db.Ready(ctx))
}
