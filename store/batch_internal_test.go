package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

// The batcher commits concurrent writes together; a write that fails is rolled back
// alone, and the others are committed when do returns.
func TestBatcher(t *testing.T) {
	db, err := Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.w.ExecContext(t.Context(), `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	errBad := errors.New("bad write")
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range 200 {
		wg.Go(func() {
			errs[i] = db.batch.do(context.Background(), func(tx *sql.Tx) error {
				if _, err := tx.Exec(`INSERT INTO t (k, v) VALUES ($1, 'x')`, i); err != nil {
					return err
				}
				if i%10 == 0 {
					return errBad // after a write: it must be undone
				}
				return nil
			})
			if errs[i] == nil {
				// Committed: visible to the readers at once.
				var n int
				if err := db.r.QueryRow(`SELECT count(*) FROM t WHERE k = $1`, i).Scan(&n); err != nil || n != 1 {
					t.Errorf("write %d returned before its commit: %d rows, %v", i, n, err)
				}
			}
		})
	}
	wg.Wait()
	var n int
	if err := db.r.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 180 {
		t.Errorf("%d rows, %v; want 180", n, err)
	}
	for i, err := range errs {
		if (i%10 == 0) != errors.Is(err, errBad) || i%10 != 0 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	db.batch.close()
	if err := db.batch.do(context.Background(), func(*sql.Tx) error { return nil }); !errors.Is(err, errClosed) {
		t.Errorf("after close: %v", err)
	}
}
