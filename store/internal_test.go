package store

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/leadline/leadline/dialer"
)

// TestFinalStatuses keeps the store's copy of the final statuses, and the migrations'
// index predicate, in step with dialer.Status.Final.
func TestFinalStatuses(t *testing.T) {
	all := []dialer.Status{
		dialer.StatusQueued, dialer.StatusScheduled, dialer.StatusDialing, dialer.StatusConnected,
		dialer.StatusCompleted, dialer.StatusExhausted, dialer.StatusCustomerUnreachable,
		dialer.StatusCanceled, dialer.StatusFailed,
	}
	inList := map[dialer.Status]bool{}
	for _, s := range finalStatuses {
		inList[s] = true
	}
	for _, s := range all {
		if s.Final() != inList[s] {
			t.Errorf("status %q: Final() = %v, in finalStatuses = %v", s, s.Final(), inList[s])
		}
	}
	err := fs.WalkDir(migrations, "migrations", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations, path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "leads_unfinished") && !strings.Contains(string(b), "status NOT IN "+finalSQL) {
			t.Errorf("%s: leads_unfinished predicate does not list %s", path, finalSQL)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
