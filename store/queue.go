package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/leadline/leadline/dialer"
)

// Work distribution runs on River, on the same database as the leads: every lead gets a
// watch job in the transaction that stores it. Whichever node's River client picks the
// job up calls the Watcher, which resumes the lead if no live node holds its lease and
// snoozes the job until the lead is final. The node that took the lead in starts its
// flow at once without waiting for the queue; the job is the safety net that hands the
// lead to another node when that one dies, and the way scheduled leads come due.
//
// While a lead's flow runs on a node, its job waits long: from the start for a lead
// created with a lease, and snoozed by the Watcher after a look. What notices that the
// node died is the sweep: a periodic job that River's elected leader enqueues every
// firstLook, which makes the watch job of every lead whose lease has lapsed due at once. That is one query per cluster instead of a job update per
// running flow every takeover time.
//
// River runs a job at least once and rescues jobs stuck in "running". Watch jobs are
// short (one read, maybe a claim), so the defaults below keep them short-lived: a
// 30 s job timeout and rescue after 2 minutes. Exactly-once dialling comes from the
// lease and the attempt written before each INVITE, not from the queue.

// Watcher is called for a due watch job. It returns how long until the lead should be
// looked at again, or 0 when it is final and the job is done.
type Watcher func(ctx context.Context, leadID string) (again time.Duration, err error)

type watchArgs struct {
	LeadID string `json:"lead_id"`
}

func (watchArgs) Kind() string { return "leadline_watch_lead" }

type watchWorker struct {
	river.WorkerDefaults[watchArgs]
	watch *atomic.Pointer[Watcher]
}

func (w *watchWorker) Timeout(*river.Job[watchArgs]) time.Duration { return 30 * time.Second }

func (w *watchWorker) Work(ctx context.Context, job *river.Job[watchArgs]) error {
	f := w.watch.Load()
	if f == nil {
		return river.JobSnooze(time.Second) // this node is not taking work yet
	}
	again, err := (*f)(ctx, job.Args.LeadID)
	switch {
	case err != nil:
		return err
	case again > 0:
		return river.JobSnooze(again)
	}
	return nil
}

type sweepArgs struct{}

func (sweepArgs) Kind() string { return "leadline_sweep_lapsed_leases" }

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	q *queue
}

func (w *sweepWorker) Timeout(*river.Job[sweepArgs]) time.Duration { return 30 * time.Second }

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	db := w.q.owner.Load()
	return errors.Join(w.q.wakeLapsed(ctx), db.takeOverLapsed(ctx), db.sweepReports(ctx))
}

// lapsedSQL lists the watch jobs of unfinished leads whose lease ran out: their node
// stopped renewing (leads_lease_until, migration 00005, holds only leased leads).
var lapsedSQL = `SELECT job_id FROM leads
	WHERE lease_node <> '' AND lease_until < $1 AND status NOT IN ` + finalSQL + ` AND job_id <> 0`

// wakeLapsed makes the watch jobs of leads with a lapsed lease due now, so that some
// node resumes them.
func (q *queue) wakeLapsed(ctx context.Context) error {
	rows, err := q.db.QueryContext(ctx, lapsedSQL, millis(q.now()))
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	var jobs []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("sweep: %w", err)
		}
		jobs = append(jobs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	for _, id := range jobs {
		if err := q.wake(ctx, nil, id); err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
	}
	return nil
}

// wake makes watch job id due now, within tx when it is not nil. A job River has
// already finished and removed is not an error.
func (q *queue) wake(ctx context.Context, tx *sql.Tx, id int64) error {
	var err error
	if tx != nil {
		_, err = q.client.JobRetryTx(ctx, tx, id)
	} else {
		_, err = q.client.JobRetry(ctx, id)
	}
	if err != nil && !errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("queue: job %d: %w", id, err)
	}
	return nil
}

// queue is the River client of a DB.
type queue struct {
	client *river.Client[*sql.Tx]
	watch  atomic.Pointer[Watcher]
	owner  atomic.Pointer[DB] // for the delivery jobs (deliver.go); set by Open
	db     *sql.DB
	now    func() time.Time
	// firstLook is when a new lead's job first comes due, after its creation.
	firstLook time.Duration
}

func newQueue(db *sql.DB, dialect Dialect, o options) (*queue, error) {
	q := &queue{firstLook: o.firstLook, db: db, now: o.now}
	workers := river.NewWorkers()
	river.AddWorker(workers, &watchWorker{watch: &q.watch})
	river.AddWorker(workers, &sweepWorker{q: q})
	river.AddWorker(workers, &deliverWorker{db: &q.owner})
	river.AddWorker(workers, &reportWorker{db: &q.owner})
	river.AddWorker(workers, &uploadWorker{db: &q.owner})
	cfg := &river.Config{
		Logger:  quieter(o.log),
		Workers: workers,
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 20},
			// Deliveries are due as their event is written: looked for ten times a
			// second (an empty look on SQLite is a write transaction that changes
			// nothing, about 0.1 ms), and again after a fetch while more are due. A fetch
			// takes as many jobs as workers are free, so a burst of leads is drained in
			// batches of up to 100 streams (20 capped deliveries at about 160 a second).
			queueWebhooks: {MaxWorkers: 100, FetchPollInterval: 100 * time.Millisecond},
		},
		MaxAttempts:          1000, // a watch job retries (with backoff) while the database is away
		JobTimeout:           30 * time.Second,
		RescueStuckJobsAfter: 2 * time.Minute,
		// Watch jobs are a safety net, not the fast path: polling (a write on SQLite's one
		// connection) every 2 s keeps out of the way of leads coming in.
		FetchPollInterval: 2 * time.Second,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(o.firstLook),
			func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil },
			&river.PeriodicJobOpts{ID: "sweep_lapsed_leases", RunOnStart: true})},
	}
	var err error
	q.client, err = river.NewClient(driverFor(db, dialect), cfg)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	return q, nil
}

func driverFor(db *sql.DB, dialect Dialect) riverdriver.Driver[*sql.Tx] {
	if dialect == SQLite {
		return riversqlite.New(db)
	}
	return riverdatabasesql.New(db)
}

// migrateQueue applies River's own migrations.
func migrateQueue(ctx context.Context, db *sql.DB, dialect Dialect) error {
	m, err := rivermigrate.New(driverFor(db, dialect), nil)
	if err != nil {
		return fmt.Errorf("migrate queue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate queue: %w", err)
	}
	return nil
}

// enqueue adds lead id's watch job inside tx and returns the job's id. The job first
// comes due a takeover time after the lead's creation, or at its planned start (next)
// when that is later. A lead created with a lease (leased) has its flow running on the
// node that holds it: its job waits dialer.LocalWatch, as after a look while the flow
// runs, since the end of the flow or the sweep of lapsed leases makes it due: no look
// per lead while its flow runs, which on a busy node took the CPU from the media.
func (q *queue) enqueue(ctx context.Context, tx *sql.Tx, id string, created, next time.Time, leased bool) (int64, error) {
	look := q.firstLook
	if leased {
		look = dialer.LocalWatch
	}
	due := created.Add(look)
	if next.After(due) {
		due = next
	}
	res, err := q.client.InsertTx(ctx, tx, watchArgs{LeadID: id}, &river.InsertOpts{ScheduledAt: due})
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

// Work starts this node's share of the queue: due watch jobs call watch. It returns once
// River runs; StopWork stops it.
func (db *DB) Work(ctx context.Context, watch Watcher) error {
	db.q.watch.Store(&watch)
	if err := db.q.client.Start(ctx); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// StopWork stops taking jobs and waits for the running ones until ctx ends.
func (db *DB) StopWork(ctx context.Context) error {
	err := db.q.client.Stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return db.q.client.StopAndCancel(context.WithoutCancel(ctx))
	}
	return err
}
