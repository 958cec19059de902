package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for the admin connection
)

// admin is the connection to PG_TEST_URL's database that creates and drops the tests'
// databases; it lives as long as the test binary.
var admin = sync.OnceValues(func() (*sql.DB, error) {
	return sql.Open("pgx", os.Getenv("PG_TEST_URL"))
})

// URL creates an empty database on the PG_TEST_URL server and returns its URL; the
// database is dropped (its connections closed) when tb ends.
func URL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("PG_TEST_URL")
	if base == "" {
		tb.Skip(`PG_TEST_URL not set; to include PostgreSQL: eval "$(scripts/pg.sh start)"`)
	}
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("PG_TEST_URL: %v", err)
	}
	db, err := admin()
	if err != nil {
		tb.Fatalf("admin connection: %v", err)
	}
	name := "leadline_test_" + hex.EncodeToString(random(10))
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop database: %v", err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
