package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// minFreeBytes is the free space a SQLite store's disk must have for Ready: below it
// the disk is full for practical purposes (a lead with its queue job and attempts, a
// WAL checkpoint, take more).
const minFreeBytes = 1 << 20

// writeFailureHold is how long Ready reports a lead that could not be written. Nothing
// short of writing a lead shows that one can be written (a full disk still takes a
// small update that overwrites WAL space it had), so after this long Ready lets the
// next lead try again.
const writeFailureHold = time.Minute

// freeSpace is diskFree; tests replace it.
var freeSpace = diskFree

// writeFailure is the last lead that could not be written for want of space or a
// writable database.
type writeFailure struct {
	at  time.Time
	err error
}

// Ready reports whether the store can take leads: its error, meant for /readyz, says
// why not. It fails when the database cannot be reached; when the disk of a SQLite
// database has less than 1 MiB free; and for a minute after a lead could not be
// written because the database is full, read-only or failing (SQLITE_FULL, …_IOERR,
// …_READONLY; PostgreSQL's disk_full, io_error, read_only_sql_transaction and kin)
// unless a lead was written since. It is cheap enough to call every few seconds: a
// ping, a statfs, no write. A write probe would not do: on a full disk SQLite still
// commits a small update into WAL space it had, while a new lead fails.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	if db.file != "" {
		dir := filepath.Dir(db.file)
		if free, ok := freeSpace(dir); ok && free < minFreeBytes {
			return fmt.Errorf("store: the disk holding %s is full: %s free, at least %s needed", dir, formatBytes(free), formatBytes(minFreeBytes))
		}
	}
	if f := db.writeFail.Load(); f != nil {
		if ago := db.now().Sub(f.at); ago < writeFailureHold {
			return fmt.Errorf("store: a lead could not be written %s ago: %w", ago.Round(time.Second), f.err)
		}
	}
	return nil
}

// noteWrite records the outcome of writing a lead for Ready: a failure that says the
// database cannot take writes, or a success that ends such a failure.
func (db *DB) noteWrite(err error) {
	switch {
	case err == nil:
		if db.writeFail.Load() != nil {
			db.writeFail.Store(nil)
		}
	case cannotWrite(err):
		db.writeFail.Store(&writeFailure{at: db.now(), err: err})
	}
}

// cannotWrite reports whether err says the database takes no writes: full, read-only,
// failing I/O or corrupt (not a conflict, a timeout or a canceled request).
func cannotWrite(err error) bool {
	if e, ok := errors.AsType[*sqlite.Error](err); ok {
		switch e.Code() & 0xff { // the primary result code of an extended one
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
		return false
	}
	if e, ok := errors.AsType[*pgconn.PgError](err); ok {
		// Class 53 insufficient resources (disk_full…), 58 system error (io_error…),
		// 25006 read_only_sql_transaction (a standby), XX001/XX002 data corrupted.
		return strings.HasPrefix(e.Code, "53") || strings.HasPrefix(e.Code, "58") ||
			e.Code == "25006" || e.Code == "XX001" || e.Code == "XX002"
	}
	return false
}

// formatBytes writes n as 512 B, 12 KiB or 3.5 MiB.
func formatBytes(n uint64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
