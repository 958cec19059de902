package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Dialect names the database behind a DB.
type Dialect string

// Dialects Open understands.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

const (
	// migrationTable records applied migrations; other tools in the same database (River)
	// keep their own.
	migrationTable = "leadline_migrations"
	// migrateLockID is the PostgreSQL advisory lock held while migrating: "leadline" in ASCII.
	migrateLockID int64 = 0x6c6561646c696e65
	// sqliteBusyTimeout is how long a SQLite statement waits for another process's write.
	sqliteBusyTimeout = 10 * time.Second
)

// DB is a lead store on SQLite or PostgreSQL. It implements dialer.LeadStore; all methods
// are safe for concurrent use. Close releases its connections.
type DB struct {
	// w runs every write. On SQLite it has exactly one connection, the single writer,
	// so writes from this process never contend for the database lock.
	w *sql.DB
	// r runs reads: a pool of read-only connections on a SQLite file (WAL lets them
	// read while w writes); the same *sql.DB as w on PostgreSQL and ":memory:".
	r *sql.DB

	dialect Dialect
	now     func() time.Time
	log     *slog.Logger
	q       *queue
	// file is a SQLite database's file name, "" for PostgreSQL and ":memory:". Ready
	// checks the free space of its disk.
	file string
	// writeFail is the last lead that could not be written because the database takes
	// no writes, nil once one was written since (see Ready).
	writeFail atomic.Pointer[writeFailure]
	// stmts holds the hot writes prepared once on w (modernc's SQLite keeps no statement
	// cache: parsing was a quarter of the CPU of taking a lead in). string → *sql.Stmt.
	stmts sync.Map
	// migrating serialises Migrate calls within this process (River's migrator is not
	// safe to run twice at once; PostgreSQL also takes an advisory lock across processes).
	migrating sync.Mutex
	// endpoints are the webhook endpoints events are routed to; courier sends them with
	// its policy (deliver.go). Both nil until set.
	endpoints atomic.Pointer[endpoints]
	courier   atomic.Pointer[courier]
	// reporter plans and sends the weekly report mails (reportmail.go); nil until set.
	reporter atomic.Pointer[ReportMailer]
	// uploader uploads spooled call recordings (recupload.go); nil until set.
	uploader atomic.Pointer[uploaderBox]
	// batch commits the delivery jobs' writes in groups on SQLite (deliveryTx); nil on
	// PostgreSQL.
	batch *batcher
}

// Option configures Open.
type Option func(*options)

type options struct {
	now       func() time.Time
	log       *slog.Logger
	firstLook time.Duration
}

// WithTakeover sets how long after its creation a lead's queue job first comes due (and so
// how soon another node may resume a lead whose node died before renewing its lease).
// Default 10 s.
func WithTakeover(d time.Duration) Option {
	return func(o *options) { o.firstLook = d }
}

// WithNow sets the clock used for updated_at stamps and by the sweep for lapsed leases
// (tests pass a fake one); give it the dialer's clock. Lease and lead times come from the
// caller, not from this clock. Default time.Now.
func WithNow(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithLogger sets where Migrate reports applied migrations. Default: discarded.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// Open connects to the store at rawURL without migrating it (see Migrate and
// OpenAndMigrate) and checks that it is reachable.
//
//   - sqlite://PATH opens or creates the SQLite file PATH (relative to the working
//     directory; sqlite:///abs/path for an absolute one) in WAL mode with foreign keys on.
//     Query parameters are passed to modernc.org/sqlite and override the defaults, e.g.
//     sqlite://leadline.db?_synchronous=NORMAL. sqlite://:memory: is a private in-memory
//     database on one connection, gone on Close: for demos and tests.
//   - postgres://… or postgresql://… is any pgx connection string.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	o := options{now: time.Now, log: slog.New(slog.DiscardHandler), firstLook: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	var (
		db  *DB
		err error
	)
	switch {
	case ok && scheme == "sqlite":
		db, err = openSQLite(rest, o)
	case ok && (scheme == "postgres" || scheme == "postgresql"):
		db, err = openPostgres(rawURL, o)
	case !ok:
		// Without a scheme the text may be anything, a password included: do not echo it.
		return nil, errors.New("open store: URL has no scheme: want sqlite://FILE or postgres://…")
	default:
		return nil, fmt.Errorf("open store: unsupported URL scheme %q: want sqlite://FILE or postgres://…", scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	if db.q, err = newQueue(db.w, db.dialect, o); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	db.q.owner.Store(db)
	if db.dialect == SQLite {
		db.batch = newBatcher(db.w)
	}
	return db, nil
}

// OpenAndMigrate is Open followed by Migrate.
func OpenAndMigrate(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	db, err := Open(ctx, rawURL, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(rest string, o options) (*DB, error) {
	file, rawQuery, _ := strings.Cut(rest, "?")
	if file == "" {
		return nil, errors.New("sqlite URL has no file path: want sqlite://FILE")
	}
	user, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("sqlite URL query: %w", err)
	}
	memory := file == ":memory:"
	dsn := func(q url.Values) string {
		for k, v := range user {
			q[k] = v
		}
		return file + "?" + q.Encode()
	}

	wq := url.Values{}
	wq.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds()))
	wq.Set("_foreign_keys", "1")
	wq.Set("_txlock", "immediate") // take the write lock at BEGIN, never upgrade into SQLITE_BUSY
	if !memory {
		wq.Set("_journal_mode", "WAL")
		// FULL: a committed attempt survives a power cut too, so a customer is not
		// dialled twice for one attempt. NORMAL trades that for speed.
		wq.Set("_synchronous", "FULL")
	}
	w, err := sql.Open("sqlite", dsn(wq))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{w: w, r: w, dialect: SQLite, now: o.now, log: o.log}
	if memory {
		return db, nil
	}
	db.file = file
	if abs, err := filepath.Abs(file); err == nil {
		db.file = abs
	}
	// The writer's first connection creates the file and switches it to WAL before any
	// reader opens it.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, fmt.Errorf("%s: %w", file, err) // SQLite's errors do not say which file
	}

	rq := url.Values{}
	rq.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeout.Milliseconds()))
	rq.Set("_query_only", "1")
	r, err := sql.Open("sqlite", dsn(rq))
	if err != nil {
		w.Close()
		return nil, err
	}
	// One reader connection a core, at least 2; SQLite always has one writer.
	n := max(runtime.GOMAXPROCS(0), 2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	return db, nil
}

func openPostgres(rawURL string, o options) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	// 16 connections; Migrate holds one for its lock while goose uses another.
	const n = 16
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return &DB{w: db, r: db, dialect: Postgres, now: o.now, log: o.log}, nil
}

// prepared returns query prepared once on the writer pool.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.w.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// warm prepares queries on the writer pool, to be run inside a transaction begun after
// (txRow, txExec). A query that cannot be prepared now runs as it is there.
func (db *DB) warm(ctx context.Context, queries ...string) {
	for _, q := range queries {
		_, _ = db.prepared(ctx, q)
	}
}

// txRow runs query inside tx, prepared when warm prepared it before tx began.
func (db *DB) txRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if s, ok := db.stmts.Load(query); ok {
		return tx.StmtContext(ctx, s.(*sql.Stmt)).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// txExec is txRow for a statement that returns no row.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if s, ok := db.stmts.Load(query); ok {
		return tx.StmtContext(ctx, s.(*sql.Stmt)).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// writeRow runs a write that returns a row, prepared when it can be. When preparing fails
// (the database is away) it runs the query as it is, so the caller sees the error of
// running it. Not for use inside a transaction: on SQLite the transaction holds the one
// writer connection that preparing would wait for.
func (db *DB) writeRow(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := db.prepared(ctx, query)
	if err != nil {
		return db.w.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

// write runs a prepared write that returns no row; see writeRow.
func (db *DB) write(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := db.prepared(ctx, query)
	if err != nil {
		return db.w.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}

// SQL returns the pool that runs writes, for wiring a job queue (River's riverdatabasesql or
// riversqlite driver) to the same database. On SQLite it has a single connection: hold it
// only briefly. The store keeps ownership; do not close it.
func (db *DB) SQL() *sql.DB { return db.w }

// Close closes the store's connections.
func (db *DB) Close() error {
	if db.batch != nil {
		db.batch.close()
	}
	var err error
	if db.r != db.w {
		err = db.r.Close()
	}
	return errors.Join(err, db.w.Close())
}

// Ping checks the store is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	if db.r != db.w {
		if err := db.r.PingContext(ctx); err != nil {
			return fmt.Errorf("ping store: %w", err)
		}
	}
	return nil
}

// Migrate applies the pending embedded migrations; it is a no-op when there are none. On
// PostgreSQL it holds an advisory lock meanwhile, so several processes may migrate one
// database at once: the others wait, then find nothing to do. On SQLite, run it from one
// process at a time (the normal single-node setup).
func (db *DB) Migrate(ctx context.Context) (err error) {
	db.migrating.Lock()
	defer db.migrating.Unlock()
	fsys, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, db.w, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(migrationTable),
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// p.Close would close db.w: the provider is dropped instead.

	if db.dialect == Postgres {
		unlock, err := db.lockPostgres(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		defer func() { err = errors.Join(err, unlock()) }()
	}

	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := migrateQueue(ctx, db.w, db.dialect); err != nil {
		return err
	}
	for _, r := range results {
		db.log.Info("store migration applied", "dialect", db.dialect,
			"version", r.Source.Version, "file", path.Base(r.Source.Path), "duration", r.Duration)
	}
	return nil
}

// lockPostgres takes the session-level migration lock on a connection of its own, waiting
// for any other holder. The returned func releases it and the connection.
func (db *DB) lockPostgres(ctx context.Context) (unlock func() error, err error) {
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", migrateLockID)
		if err != nil {
			// Never hand a connection that may still hold the lock back to the pool:
			// closing the session releases it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
		if err != nil {
			return fmt.Errorf("unlock: %w", err)
		}
		return nil
	}, nil
}
