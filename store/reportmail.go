package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"

	"github.com/leadline/leadline/dialer"
)

// The owner's weekly report mails (migration 00012). Each is a row of report_mails, one
// per dealer and ISO week (its primary key), so that however many nodes plan it and
// however often they restart, a dealer gets one report mail a week:
//
//   - PlanReports (every node, at start and on a reload) makes each dealer's next mail
//     the configured one: it inserts it (with its River job, in one transaction) unless
//     the week has one. An untried mail planned for another time, or for a dealer without
//     a weekly report, is removed, except the one the schedule last made due (a node down
//     at its time sends it late). Every open mail's job is made due, so that it looks at
//     its time again on this node's clock.
//   - The job (queue "webhooks", like the deliveries) waits until the mail is due, then
//     takes its lease in a transaction (tries+1), has the ReportMailer build and send the
//     report, and writes the result in a second transaction, which drops the lease and,
//     once the mail is final, plans the dealer's next one. A failed try is tried again by
//     the delivery policy's backoff until GiveUpAfter since the first try.
//   - The sweep of lapsed leases (River's leader, every takeover time) looks after the
//     mails: one whose try's lease lapsed (its node died mid-try) gets a new job; one due
//     on the store's clock whose job still sleeps (River schedules by the wall clock: a
//     clock set forward, in tests) has it made due, or gets a new one if River lost it.
//   - So at least once across kill -9 and nodes, and once otherwise: a node killed
//     between the relay's 250 and the second transaction sends that week's mail again,
//     with the same Message-ID; nothing else does.

// ReportMailer plans and sends the dealers' weekly report mails for the report jobs.
// cmd implements it; its methods are safe for concurrent use.
type ReportMailer interface {
	// Next returns dealer's first report mail due after after; false when the dealer
	// has no weekly report.
	Next(dealer string, after time.Time) (dialer.ReportMail, bool)
	// Send makes one try of r within the delivery policy's TryTimeout: builds its report
	// and mails it. TryDelivered: the relay took it; TryGone: the dealer no longer has a
	// weekly report (nothing was sent, and nothing will be); TryFailed: tried again later.
	Send(ctx context.Context, r dialer.ReportMail) dialer.TryResult
	// Observe is told what became of r (r.State) after a try.
	Observe(r dialer.ReportMail, res dialer.TryResult)
}

// MailReports installs the mailer the report jobs send with (the delivery policy is
// Deliver's). Call it before Work; until it is called, report jobs wait.
func (db *DB) MailReports(m ReportMailer) {
	db.reporter.Store(&m)
}

func (db *DB) reportMailer() ReportMailer {
	if m := db.reporter.Load(); m != nil {
		return *m
	}
	return nil
}

type reportArgs struct {
	Dealer string `json:"dealer"`
	Week   string `json:"week"`
}

func (reportArgs) Kind() string { return "leadline_report_mail" }

type reportWorker struct {
	river.WorkerDefaults[reportArgs]
	db *atomic.Pointer[DB]
}

// reportJobTimeout bounds a report job: a try (the policy's) and the report's build.
func (p DeliveryPolicy) reportJobTimeout() time.Duration { return p.jobTimeout() + 30*time.Second }

func (w *reportWorker) Timeout(*river.Job[reportArgs]) time.Duration {
	return w.db.Load().policy().reportJobTimeout()
}

func (w *reportWorker) Work(ctx context.Context, job *river.Job[reportArgs]) error {
	db := w.db.Load()
	m := db.reportMailer()
	if m == nil {
		return river.JobSnooze(time.Second) // this node mails nothing yet
	}
	again, err := db.workReport(ctx, m, job)
	switch {
	case err != nil:
		return err
	case again > 0:
		return river.JobSnooze(again)
	}
	return nil
}

// reportRow is a report mail as the job reads it.
type reportRow struct {
	dialer.ReportMail
	job   int64
	lease int64 // lease_until, ms
}

const (
	reportCols = `dealer, week, due_at, period_from, period_to, state, tries, job_id, first_try_at, next_try_at,
		done_at, lease_until, last_status, last_error`

	selectReportSQL = `SELECT ` + reportCols + ` FROM report_mails WHERE dealer = $1 AND week = $2`

	selectReportsSQL = `SELECT ` + reportCols + ` FROM report_mails WHERE dealer = $1 ORDER BY due_at DESC`

	// selectOpenReportsSQL lists every open report mail (planning looks at them all).
	selectOpenReportsSQL = `SELECT ` + reportCols + ` FROM report_mails WHERE state IN ('pending', 'failed')`

	insertReportSQL = `INSERT INTO report_mails (dealer, week, due_at, period_from, period_to) VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (dealer, week) DO NOTHING`

	setReportJobSQL = `UPDATE report_mails SET job_id = $3 WHERE dealer = $1 AND week = $2`

	// deleteUntriedReportSQL removes a report mail planned for another time, or for a
	// dealer without one, as long as nobody tried it.
	deleteUntriedReportSQL = `DELETE FROM report_mails
	WHERE dealer = $1 AND week = $2 AND state = 'pending' AND tries = 0 AND lease_until = 0`

	// startReportSQL takes the lease of an open report mail worked by job $3 and not
	// being tried. $4 now, $5 lease until.
	startReportSQL = `UPDATE report_mails SET tries = tries + 1, lease_until = $5,
		first_try_at = CASE WHEN first_try_at = 0 THEN $4 ELSE first_try_at END
	WHERE dealer = $1 AND week = $2 AND job_id = $3 AND state IN ('pending', 'failed') AND lease_until < $4
	RETURNING tries, first_try_at`

	// finishReportSQL writes the result of the try that holds lease $8.
	finishReportSQL = `UPDATE report_mails SET state = $3, next_try_at = $4, done_at = $5, last_status = $6,
		last_error = $7, lease_until = 0
	WHERE dealer = $1 AND week = $2 AND lease_until = $8`

	// lapsedReportsSQL lists the report mails whose try's lease ran out: their node died.
	lapsedReportsSQL = `SELECT dealer, week, lease_until FROM report_mails
	WHERE lease_until <> 0 AND lease_until < $1 AND state IN ('pending', 'failed')`

	// takeOverReportSQL gives a report mail whose lease ($4) lapsed a new job.
	takeOverReportSQL = `UPDATE report_mails SET job_id = $3, lease_until = 0
	WHERE dealer = $1 AND week = $2 AND lease_until = $4`

	// dueReportsSQL lists the open report mails due at $1 that no try holds: their job
	// should be running.
	dueReportsSQL = `SELECT dealer, week, job_id FROM report_mails
	WHERE state IN ('pending', 'failed') AND lease_until = 0 AND due_at <= $1 AND next_try_at <= $1`

	// replaceReportJobSQL gives a report mail whose job ($4) River lost a new job ($3).
	replaceReportJobSQL = `UPDATE report_mails SET job_id = $3
	WHERE dealer = $1 AND week = $2 AND job_id = $4 AND lease_until = 0 AND state IN ('pending', 'failed')`
)

// scanReport reads a row of reportCols.
func scanReport(s interface{ Scan(...any) error }) (reportRow, error) {
	var (
		r                        reportRow
		state                    string
		due, first, next, doneAt int64
	)
	err := s.Scan(&r.Dealer, &r.Week, &due, &r.From, &r.To, &state, &r.Tries, &r.job, &first, &next, &doneAt,
		&r.lease, &r.LastStatus, &r.LastError)
	if err != nil {
		return reportRow{}, err
	}
	r.State, r.DueAt = dialer.DeliveryState(state), fromMillis(due)
	r.FirstTryAt, r.NextTryAt, r.DoneAt = fromMillis(first), fromMillis(next), fromMillis(doneAt)
	return r, nil
}

// ReportMails returns dealer's report mails, the latest first.
func (db *DB) ReportMails(ctx context.Context, dealer string) ([]dialer.ReportMail, error) {
	rows, err := db.r.QueryContext(ctx, selectReportsSQL, dealer)
	if err != nil {
		return nil, fmt.Errorf("report mails of %s: %w", dealer, err)
	}
	defer rows.Close()
	var out []dialer.ReportMail
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, fmt.Errorf("report mails of %s: %w", dealer, err)
		}
		out = append(out, r.ReportMail)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report mails of %s: %w", dealer, err)
	}
	return out, nil
}

// PlanReports makes plans, one per dealer with a weekly report (its next mail, from the
// installed ReportMailer's Next after now), the mails the report jobs send:
//   - a plan whose dealer has an open mail tried already, or one planned for the same
//     time, is planned: that mail stays;
//   - so is one whose dealer has an untried mail the schedule made due last, before the
//     plan's time (its node was down then): the mail stays and goes now, and its job
//     plans the next;
//   - an untried mail planned for another time is removed and the plan inserted, unless
//     its week has a mail already (sent, or given up): then the dealer's next week;
//   - an untried mail of a dealer without a plan (its report was removed from the
//     configuration) is removed;
//   - every open mail that stays has its job made due now, or a new job when River has
//     none: the job looks at its time on this node's clock and waits for it.
//
// Every node calls it at start and after a reload; several at once plan the same.
func (db *DB) PlanReports(ctx context.Context, plans []dialer.ReportMail) error {
	open, err := db.openReports(ctx)
	if err != nil {
		return fmt.Errorf("plan reports: %w", err)
	}
	planned := map[string]dialer.ReportMail{}
	for _, p := range plans {
		planned[p.Dealer] = p
	}
	m := db.reportMailer()
	kept := map[string]bool{} // dealers whose open mail stays
	var wake []reportRow
	for _, r := range open {
		p, ok := planned[r.Dealer]
		untried := r.State == dialer.DeliveryPending && r.Tries == 0 && r.lease == 0
		if untried && (!ok || (!p.DueAt.Equal(r.DueAt) && !dueLast(m, r.ReportMail, p))) {
			if _, err := db.w.ExecContext(ctx, deleteUntriedReportSQL, r.Dealer, r.Week); err != nil {
				return fmt.Errorf("plan reports: %w", err)
			}
			continue
		}
		kept[r.Dealer] = true
		wake = append(wake, r)
	}
	for _, p := range plans {
		if kept[p.Dealer] {
			continue
		}
		err := db.inTx(ctx, func(tx *sql.Tx) error { return db.planFrom(ctx, tx, p, nil) })
		if err != nil {
			return fmt.Errorf("plan reports: %s: %w", p.Dealer, err)
		}
	}
	for _, r := range wake {
		if err := db.wakeReport(ctx, r); err != nil {
			return fmt.Errorf("plan reports: %s %s: %w", r.Dealer, r.Week, err)
		}
	}
	return nil
}

// dueLast reports whether r is the mail m's schedule made due last before plan p: the
// schedule has r at its time, and p next after it.
func dueLast(m ReportMailer, r, p dialer.ReportMail) bool {
	if m == nil || !r.DueAt.Before(p.DueAt) {
		return false
	}
	at, ok := m.Next(r.Dealer, r.DueAt.Add(-time.Millisecond))
	if !ok || !at.DueAt.Equal(r.DueAt) || at.Week != r.Week {
		return false
	}
	after, ok := m.Next(r.Dealer, r.DueAt)
	return ok && after.DueAt.Equal(p.DueAt)
}

func (db *DB) openReports(ctx context.Context) ([]reportRow, error) {
	rows, err := db.r.QueryContext(ctx, selectOpenReportsSQL)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []reportRow
	for rows.Next() {
		r, err := scanReport(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// planFrom inserts report mail p with its job, inside tx; when p's week has a mail that
// is final, the dealer's next one after it (from m; nil: the installed mailer), and so
// on for a few weeks. A week with an open mail is planned already.
func (db *DB) planFrom(ctx context.Context, tx *sql.Tx, p dialer.ReportMail, m ReportMailer) error {
	if m == nil {
		m = db.reportMailer()
	}
	for range 4 {
		res, err := tx.ExecContext(ctx, insertReportSQL, p.Dealer, p.Week, millis(p.DueAt), p.From, p.To)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			return db.newReportJob(ctx, tx, p.Dealer, p.Week, p.DueAt)
		}
		existing, err := scanReport(tx.QueryRowContext(ctx, selectReportSQL, p.Dealer, p.Week))
		if err != nil {
			return err
		}
		if !existing.State.Final() || m == nil {
			return nil // planned already (or no mailer to ask for the week after)
		}
		// After both: a week whose mail went at another time (the schedule changed
		// since) has the plan's time still ahead, in the same week.
		next, ok := m.Next(p.Dealer, maxTime(existing.DueAt, p.DueAt))
		if !ok {
			return nil
		}
		p = next
	}
	return nil
}

// newReportJob inserts the job of report mail (dealer, week), due at due on this
// node's clock, inside tx, and makes it the mail's.
func (db *DB) newReportJob(ctx context.Context, tx *sql.Tx, dealer, week string, due time.Time) error {
	// River schedules by the wall clock: the wait is measured on ours.
	at := time.Now().Add(due.Sub(db.now()))
	job, err := db.q.client.InsertTx(ctx, tx, reportArgs{Dealer: dealer, Week: week},
		&river.InsertOpts{Queue: queueWebhooks, ScheduledAt: at})
	if err != nil {
		return fmt.Errorf("queue report mail: %w", err)
	}
	_, err = tx.ExecContext(ctx, setReportJobSQL, dealer, week, job.Job.ID)
	return err
}

// wakeReport makes open report mail r's job due now (it looks at r's time and waits for
// it), or gives r a new job when River has none.
func (db *DB) wakeReport(ctx context.Context, r reportRow) error {
	if r.job != 0 {
		_, err := db.q.client.JobRetry(ctx, r.job)
		if err == nil || !errors.Is(err, river.ErrNotFound) {
			return err
		}
	}
	return db.inTx(ctx, func(tx *sql.Tx) error { return db.newReportJob(ctx, tx, r.Dealer, r.Week, r.DueAt) })
}

// workReport works report mail job.Args: waits for its time, makes a try, writes its
// result. It returns how long the job should wait before it looks again, or 0 when it is
// done; store errors for River to retry the job.
func (db *DB) workReport(ctx context.Context, m ReportMailer, job *river.Job[reportArgs]) (time.Duration, error) {
	r, err := scanReport(db.r.QueryRowContext(ctx, selectReportSQL, job.Args.Dealer, job.Args.Week))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil // removed: planned for another time
	case err != nil:
		return 0, fmt.Errorf("report mail %s %s: %w", job.Args.Dealer, job.Args.Week, err)
	case r.job != job.ID, r.State.Final():
		return 0, nil // another job works it, or it is done
	}
	now := db.now()
	switch {
	case r.lease > millis(now):
		return fromMillis(r.lease).Sub(now), nil // a try is in progress
	case r.DueAt.After(now):
		return r.DueAt.Sub(now), nil
	case r.NextTryAt.After(now):
		return r.NextTryAt.Sub(now), nil
	}
	p := db.policy()
	lease := now.Add(p.reportJobTimeout() + 5*time.Second)
	var first int64
	err = db.w.QueryRowContext(ctx, startReportSQL, r.Dealer, r.Week, job.ID, millis(now), millis(lease)).Scan(&r.Tries, &first)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Second, nil // taken meanwhile: look again
	case err != nil:
		return 0, fmt.Errorf("report mail %s %s: start try: %w", r.Dealer, r.Week, err)
	}
	r.FirstTryAt = fromMillis(first)

	res := m.Send(ctx, r.ReportMail)
	// The result is written even when the job's time ran out meanwhile.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	end := db.now()
	r.LastStatus, r.LastError, r.NextTryAt = res.Status, res.Error, time.Time{}
	var again time.Duration
	switch res.Outcome {
	case dialer.TryDelivered:
		r.State, r.DoneAt, r.LastError = dialer.DeliveryDelivered, end, ""
	case dialer.TryGone:
		r.State, r.DoneAt = dialer.DeliveryDisabled, end
	default:
		if r.NextTryAt = p.next(end, r.FirstTryAt, r.Tries, res); r.NextTryAt.IsZero() {
			r.State, r.DoneAt = dialer.DeliveryGaveUp, end
		} else {
			r.State, again = dialer.DeliveryFailed, r.NextTryAt.Sub(end)
		}
	}
	err = db.inTx(wctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(wctx, finishReportSQL, r.Dealer, r.Week, string(r.State), millis(r.NextTryAt),
			millis(r.DoneAt), r.LastStatus, r.LastError, millis(lease))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, errUnchanged) // the sweep took it from this try
		}
		if !r.State.Final() {
			return nil
		}
		// Done with this week: the dealer's next mail, after its time and after now (a
		// mail sent late does not bring the weeks missed meanwhile).
		next, ok := m.Next(r.Dealer, maxTime(end, r.DueAt))
		if !ok {
			return nil
		}
		return db.planFrom(wctx, tx, next, m)
	})
	switch {
	case errors.Is(err, errUnchanged):
		return 0, nil
	case err != nil:
		// The lease lapses and the sweep gives the mail another try.
		return 0, fmt.Errorf("report mail %s %s: %w", r.Dealer, r.Week, err)
	}
	m.Observe(r.ReportMail, res)
	return again, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sweepReports is the sweep's share of the report mails: a mail whose try's lease
// lapsed gets a new job (takeOverLapsedReports), and a mail due on the store's clock has
// its job made due (wakeDueReports).
func (db *DB) sweepReports(ctx context.Context) error {
	return errors.Join(db.takeOverLapsedReports(ctx), db.wakeDueReports(ctx))
}

// wakeDueReports makes the job of every open report mail that is due on the store's
// clock, and not being tried, due now; a mail whose job River no longer has gets a new
// one. River schedules a job by the wall clock, so when the store's clock is ahead of
// it (a clock set forward) the job would sleep on; and a job River discarded would never
// come back.
func (db *DB) wakeDueReports(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, dueReportsSQL, millis(db.now()))
	if err != nil {
		return fmt.Errorf("sweep report mails: %w", err)
	}
	type due struct {
		dealer, week string
		job          int64
	}
	var ds []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.dealer, &d.week, &d.job); err != nil {
			rows.Close()
			return fmt.Errorf("sweep report mails: %w", err)
		}
		ds = append(ds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sweep report mails: %w", err)
	}
	for _, d := range ds {
		if d.job != 0 {
			_, err := db.q.client.JobRetry(ctx, d.job) // a running job is left alone
			if err == nil {
				continue
			}
			if !errors.Is(err, river.ErrNotFound) {
				return fmt.Errorf("sweep report mails: %s %s: %w", d.dealer, d.week, err)
			}
		}
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			job, err := db.q.client.InsertTx(ctx, tx, reportArgs{Dealer: d.dealer, Week: d.week}, &river.InsertOpts{Queue: queueWebhooks})
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, replaceReportJobSQL, d.dealer, d.week, job.Job.ID, d.job)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errors.Join(err, errUnchanged) // taken meanwhile: the new job is rolled back
			}
			return nil
		})
		if err != nil && !errors.Is(err, errUnchanged) {
			return fmt.Errorf("sweep report mails: %s %s: %w", d.dealer, d.week, err)
		}
	}
	return nil
}

// takeOverLapsedReports gives a new job, due now, to every report mail whose try's
// lease lapsed (its node died mid-try).
func (db *DB) takeOverLapsedReports(ctx context.Context) error {
	rows, err := db.r.QueryContext(ctx, lapsedReportsSQL, millis(db.now()))
	if err != nil {
		return fmt.Errorf("sweep report mails: %w", err)
	}
	type lapsed struct {
		dealer, week string
		lease        int64
	}
	var ls []lapsed
	for rows.Next() {
		var l lapsed
		if err := rows.Scan(&l.dealer, &l.week, &l.lease); err != nil {
			rows.Close()
			return fmt.Errorf("sweep report mails: %w", err)
		}
		ls = append(ls, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sweep report mails: %w", err)
	}
	for _, l := range ls {
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			job, err := db.q.client.InsertTx(ctx, tx, reportArgs{Dealer: l.dealer, Week: l.week}, &river.InsertOpts{Queue: queueWebhooks})
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, takeOverReportSQL, l.dealer, l.week, job.Job.ID, l.lease)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errors.Join(err, errUnchanged)
			}
			return nil
		})
		if err != nil && !errors.Is(err, errUnchanged) {
			return fmt.Errorf("sweep report mails: %s %s: %w", l.dealer, l.week, err)
		}
	}
	return nil
}
