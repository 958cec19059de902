package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/leadline/leadline/dialer"
)

// Outbound webhooks (migration 00007). The transaction that writes an event also writes
// one delivery per endpoint of the lead's dealer that takes the event's type. A lead's
// deliveries to one endpoint are a stream, sent in the order of the events:
//
//   - One job works a stream at a time. A delivery written while its stream has none
//     open (pending or failed) gets a River job (queue "webhooks") in that transaction;
//     one written behind an open delivery gets none: the job of the stream works it
//     next. The job works the stream's head (its earliest open delivery) and, once that
//     is final, hands itself the next one in the same transaction and goes on. Both
//     transactions first lock the lead's row, so either the writer sees the open
//     delivery or the job sees the new one. So a lead's events reach an endpoint in the
//     order they happened, whatever the retries; one slow lead holds up no other lead;
//     and a burst of events costs a River job per stream, not per event.
//   - A try is started in a transaction that takes the delivery's lease (tries+1,
//     lease_until) and, at the event's first try to any endpoint, fixes the body, which
//     every later try sends unchanged. Its result is written in another, which drops the
//     lease.
//   - Failed tries are retried with exponential backoff and jitter (DeliveryPolicy) until
//     GiveUpAfter has passed since the first try; then the delivery gave up. So does a
//     delivery whose endpoint was removed from the configuration, GiveUpAfter after its
//     event, untried. A 410 Gone disables the endpoint for the configuration it has
//     (webhook_endpoints), and every open delivery to it; a changed configuration of the
//     endpoint enables it again.
//   - At least once, across kill -9 and nodes: the job is River's, written with the
//     event; a node that dies mid-try leaves a lease that lapses, and the sweep (the one
//     of lapsed lead leases, on River's leader) gives the delivery a new job. The dead
//     node's job, when River rescues it, finds it is no longer the delivery's job and
//     ends. The delivery's id is the webhook-id of every try, so receivers can
//     de-duplicate what was received but not acknowledged.

// queueWebhooks is the River queue of delivery jobs: slow endpoints never hold up the
// leads' watch jobs.
const queueWebhooks = "webhooks"

// Endpoint is a webhook endpoint as the store routes events to it.
type Endpoint struct {
	// ID names the endpoint in deliveries: stable for its dealer and URL, so that a
	// changed secret or event list keeps the deliveries in progress.
	ID     string
	Dealer string
	// URL is the endpoint's address as shown in the history: without user information
	// or query.
	URL string
	// Version changes with any change of the endpoint's configuration; an endpoint
	// disabled by a 410 is enabled again when its Version changes.
	Version string
	// Events are the event types it takes; nil takes every type.
	Events []dialer.EventType
}

func (e *Endpoint) takes(t dialer.EventType) bool {
	return e.Events == nil || slices.Contains(e.Events, t)
}

// endpoints are the configured endpoints, by dealer and by id.
type endpoints struct {
	byDealer map[string][]Endpoint
	byID     map[string]Endpoint
}

const upsertEndpointSQL = `INSERT INTO webhook_endpoints (id, dealer, url) VALUES ($1, $2, $3)
	ON CONFLICT (id) DO UPDATE SET dealer = excluded.dealer, url = excluded.url`

// SetEndpoints replaces the webhook endpoints events are routed to (at start and on a
// configuration reload), and records them for the delivery history. Events written
// before keep the deliveries they have. A delivery to an endpoint this node does not
// know (removed, or not yet reloaded here while another node has it) waits, and gives
// up once the policy's GiveUpAfter has passed since its event.
func (db *DB) SetEndpoints(ctx context.Context, eps []Endpoint) error {
	e := &endpoints{byDealer: map[string][]Endpoint{}, byID: map[string]Endpoint{}}
	for _, ep := range eps {
		if ep.ID == "" || ep.Dealer == "" {
			return fmt.Errorf("set endpoints: endpoint %q of dealer %q: id and dealer are required", ep.ID, ep.Dealer)
		}
		if _, dup := e.byID[ep.ID]; dup {
			return fmt.Errorf("set endpoints: endpoint id %q twice", ep.ID)
		}
		e.byID[ep.ID] = ep
		e.byDealer[ep.Dealer] = append(e.byDealer[ep.Dealer], ep)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, ep := range eps {
			if _, err := tx.ExecContext(ctx, upsertEndpointSQL, ep.ID, ep.Dealer, ep.URL); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set endpoints: %w", err)
	}
	db.endpoints.Store(e)
	return nil
}

// route returns the endpoints that take events of type t of dealer's leads.
func (db *DB) route(dealer string, t dialer.EventType) []Endpoint {
	e := db.endpoints.Load()
	if e == nil {
		return nil
	}
	var out []Endpoint
	for _, ep := range e.byDealer[dealer] {
		if ep.takes(t) {
			out = append(out, ep)
		}
	}
	return out
}

const (
	insertDeliverySQL = `INSERT INTO webhook_deliveries (id, event_id, lead_id, endpoint, state, job_id)
	VALUES ($1, $2, $3, $4, 'pending', $5)`

	// selectStreamOpenSQL says whether a lead's stream to an endpoint has an open
	// delivery (its job will work a new one next).
	selectStreamOpenSQL = `SELECT 1 FROM webhook_deliveries
	WHERE lead_id = $1 AND endpoint = $2 AND state IN ('pending', 'failed') LIMIT 1`
)

// deliverArgs are a delivery job's: the delivery it was made for. It works that
// delivery's stream.
type deliverArgs struct {
	Delivery string `json:"delivery"`
}

func (deliverArgs) Kind() string { return "leadline_deliver_event" }

// writeDeliveries writes, inside tx, a delivery of event (of type t, of lead id of
// dealer) to each endpoint that takes it, and a job for each whose stream has no open
// delivery; fresh says the lead is new (no delivery at all yet). The caller has locked
// the lead's row.
func (db *DB) writeDeliveries(ctx context.Context, tx *sql.Tx, event int64, id, dealer string, t dialer.EventType, fresh bool) error {
	for _, ep := range db.route(dealer, t) {
		did, err := uuid.NewV7()
		if err != nil {
			return err
		}
		behind := false
		if !fresh {
			var one int
			switch err := db.txRow(ctx, tx, selectStreamOpenSQL, id, ep.ID).Scan(&one); {
			case err == nil:
				behind = true
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("delivery: %w", err)
			}
		}
		var job int64
		if !behind {
			res, err := db.q.client.InsertTx(ctx, tx, deliverArgs{Delivery: did.String()}, &river.InsertOpts{Queue: queueWebhooks})
			if err != nil {
				return fmt.Errorf("queue delivery: %w", err)
			}
			job = res.Job.ID
		}
		if _, err := db.txExec(ctx, tx, insertDeliverySQL, did.String(), event, id, ep.ID, job); err != nil {
			return fmt.Errorf("delivery: %w", err)
		}
	}
	return nil
}

// Courier carries events to webhook endpoints for the delivery jobs. *webhook.Sender
// implements it; its methods are safe for concurrent use.
type Courier interface {
	// Body returns the body that carries event e. It is called at the event's first try
	// to any endpoint; the store keeps the body, and every later try, to any endpoint,
	// sends it unchanged.
	Body(ctx context.Context, e dialer.Event) ([]byte, error)
	// Send makes one try of delivery d (d.Tries counts it) with body, within the
	// policy's TryTimeout, and says how it went.
	Send(ctx context.Context, d dialer.Delivery, body []byte) dialer.TryResult
	// Observe is told what became of d (d.State) after a try, with the try's result r,
	// or without a try (r is zero) when its endpoint was disabled or removed.
	Observe(d dialer.Delivery, r dialer.TryResult)
}

// DeliveryPolicy is how deliveries are tried and retried. Zero fields take the
// defaults.
type DeliveryPolicy struct {
	// TryTimeout is how long one try may take (the courier holds to it); default 10 s.
	// A try's lease, and the delivery job's timeout, are a few times longer.
	TryTimeout time.Duration
	// FirstRetry is the wait after the first failed try, doubled after each further one
	// up to MaxWait, each wait ±20 % at random (jitter); defaults 5 s and 6 h. An
	// answer's Retry-After, up to MaxWait, makes the wait longer.
	FirstRetry, MaxWait time.Duration
	// GiveUpAfter is how long after the first try a delivery gives up, when the next
	// try would come later; default 72 h.
	GiveUpAfter time.Duration
}

// Default delivery policy.
const (
	DefaultTryTimeout  = 10 * time.Second
	DefaultFirstRetry  = 5 * time.Second
	DefaultMaxWait     = 6 * time.Hour
	DefaultGiveUpAfter = 72 * time.Hour
)

func (p DeliveryPolicy) withDefaults() DeliveryPolicy {
	if p.TryTimeout <= 0 {
		p.TryTimeout = DefaultTryTimeout
	}
	if p.FirstRetry <= 0 {
		p.FirstRetry = DefaultFirstRetry
	}
	if p.MaxWait <= 0 {
		p.MaxWait = DefaultMaxWait
	}
	if p.GiveUpAfter <= 0 {
		p.GiveUpAfter = DefaultGiveUpAfter
	}
	return p
}

// jobTimeout bounds a delivery job: a try, the body, and the writes around it.
func (p DeliveryPolicy) jobTimeout() time.Duration { return 2*p.TryTimeout + 5*time.Second }

// lease is how long a try holds its delivery: longer than the job may run, so that only
// a try whose node died lets it lapse.
func (p DeliveryPolicy) lease() time.Duration { return p.jobTimeout() + 5*time.Second }

// Wait returns the wait after the tries-th failed try, before jitter: FirstRetry
// doubled tries-1 times, at most MaxWait.
func (p DeliveryPolicy) Wait(tries int) time.Duration {
	p = p.withDefaults()
	w := p.FirstRetry
	for i := 1; i < tries && w < p.MaxWait; i++ {
		w *= 2
	}
	return min(w, p.MaxWait)
}

// next returns when to try again after the tries-th try failed with r, first tried at
// first; zero: give up.
func (p DeliveryPolicy) next(now, first time.Time, tries int, r dialer.TryResult) time.Time {
	w := p.Wait(tries)
	w = time.Duration(float64(w) * (0.8 + 0.4*rand.Float64()))
	if r.RetryAfter > w {
		w = min(r.RetryAfter, p.MaxWait)
	}
	at := now.Add(w)
	if at.Sub(first) > p.GiveUpAfter {
		return time.Time{}
	}
	return at
}

// courier is a Courier with its policy, installed together.
type courier struct {
	Courier
	policy DeliveryPolicy
}

// Deliver installs the courier that delivery jobs send with, and the policy they try by.
// Call it before Work; until it is called, delivery jobs wait.
func (db *DB) Deliver(c Courier, p DeliveryPolicy) {
	db.courier.Store(&courier{Courier: c, policy: p.withDefaults()})
}

// policy is the installed policy, or the default one.
func (db *DB) policy() DeliveryPolicy {
	if c := db.courier.Load(); c != nil {
		return c.policy
	}
	return DeliveryPolicy{}.withDefaults()
}

type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	db *atomic.Pointer[DB]
}

func (w *deliverWorker) Timeout(*river.Job[deliverArgs]) time.Duration {
	return w.db.Load().policy().jobTimeout()
}

func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	db := w.db.Load()
	c := db.courier.Load()
	if c == nil {
		return river.JobSnooze(time.Second) // this node sends nothing yet
	}
	again, err := db.deliver(ctx, c, job)
	switch {
	case err != nil:
		return err
	case again > 0:
		return river.JobSnooze(again)
	}
	return nil
}

// delivery is a delivery as its job reads it.
type delivery struct {
	dialer.Delivery
	job        int64
	lease      int64 // lease_until, ms
	body       []byte
	hasBody    bool
	disabledAs string // the endpoint's disabled_version
}

const (
	deliveryCols = `d.id, d.event_id, e.type, e.at, d.lead_id, l.dealer, d.endpoint,
		COALESCE(w.url, ''), d.state, d.tries, d.first_try_at, d.last_try_at, d.next_try_at, d.done_at,
		d.last_status, d.last_error, d.job_id, d.lease_until, e.body, COALESCE(w.disabled_version, '')`
	deliveryJoins = ` FROM webhook_deliveries d
	JOIN lead_events e ON e.id = d.event_id
	JOIN leads l ON l.id = d.lead_id
	LEFT JOIN webhook_endpoints w ON w.id = d.endpoint`

	selectDeliveryForWorkSQL = `SELECT ` + deliveryCols + deliveryJoins + ` WHERE d.id = $1`

	// selectHeadSQL finds a stream's head: its earliest open delivery.
	selectHeadSQL = `SELECT ` + deliveryCols + deliveryJoins + `
	WHERE d.lead_id = $1 AND d.endpoint = $2 AND d.state IN ('pending', 'failed')
	ORDER BY d.event_id LIMIT 1`

	// claimHeadSQL makes job $2 the one working delivery $1, when no job is.
	claimHeadSQL = `UPDATE webhook_deliveries SET job_id = $2 WHERE id = $1 AND job_id = 0`

	freezeBodySQL = `UPDATE lead_events SET body = $2 WHERE id = $1 AND body IS NULL`
	selectBodySQL = `SELECT body FROM lead_events WHERE id = $1`

	// startTrySQL takes the lease of a delivery that is open, worked by job $2 and not
	// being tried. $3 now, $4 lease until.
	startTrySQL = `UPDATE webhook_deliveries SET tries = tries + 1, last_try_at = $3,
		first_try_at = CASE WHEN first_try_at = 0 THEN $3 ELSE first_try_at END,
		lease_until = $4
	WHERE id = $1 AND job_id = $2 AND state IN ('pending', 'failed') AND lease_until < $3
	RETURNING tries, first_try_at`

	// finishTrySQL writes the result of the try that holds lease $7.
	finishTrySQL = `UPDATE webhook_deliveries SET state = $2, next_try_at = $3, done_at = $4,
		last_status = $5, last_error = $6, lease_until = 0
	WHERE id = $1 AND lease_until = $7`

	// dropSQL ends an open delivery of job $5 without a try (endpoint disabled or removed).
	dropSQL = `UPDATE webhook_deliveries SET state = $2, done_at = $3, last_error = $4, next_try_at = 0
	WHERE id = $1 AND job_id = $5 AND state IN ('pending', 'failed') AND lease_until < $3`

	// lockLeadSQL locks a lead's row on PostgreSQL, as the writers of its events do, so
	// that handing a stream on and writing a delivery into it do not miss each other
	// (SQLite has one writer: its transactions never overlap).
	lockLeadSQL = `SELECT 1 FROM leads WHERE id = $1 FOR UPDATE`

	// selectNextSQL finds the next open delivery of the same lead to the same endpoint.
	selectNextSQL = `SELECT id FROM webhook_deliveries
	WHERE lead_id = $1 AND endpoint = $2 AND event_id > $3 AND state IN ('pending', 'failed')
	ORDER BY event_id LIMIT 1`

	// handOverSQL gives a delivery another job.
	handOverSQL = `UPDATE webhook_deliveries SET job_id = $2 WHERE id = $1`

	disableEndpointSQL = `UPDATE webhook_endpoints SET disabled_version = $2, disabled_at = $3, disabled_reason = $4
	WHERE id = $1`
	// disableOpenSQL ends every other open delivery to a disabled endpoint.
	disableOpenSQL = `UPDATE webhook_deliveries SET state = 'disabled', done_at = $2, next_try_at = 0,
		last_error = $3
	WHERE endpoint = $1 AND state IN ('pending', 'failed') AND id <> $4 AND lease_until < $2`
)

// Why deliveries ended without a try of their own.
const (
	reasonRemoved  = "the endpoint is no longer in the configuration (given up untried)"
	reasonDisabled = "the endpoint answered 410 Gone and is disabled until its configuration changes"
)

// unknownEndpointWait is how often a delivery to an endpoint this node does not know
// looks again, until GiveUpAfter has passed since its event.
const unknownEndpointWait = 5 * time.Minute

// deliver works the stream of job's delivery: its head, and each next one as the one
// before becomes final, as long as the job's time allows. It returns how long the job
// should wait before it looks again (a failed try's retry), or 0 when it is done; store
// errors for River to retry the job.
func (db *DB) deliver(ctx context.Context, c *courier, job *river.Job[deliverArgs]) (time.Duration, error) {
	first, err := db.deliveryForWork(ctx, selectDeliveryForWorkSQL, job.Args.Delivery)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil // its lead is gone
	case err != nil:
		return 0, fmt.Errorf("delivery %s: %w", job.Args.Delivery, err)
	case first.job != job.ID:
		return 0, nil // the sweep gave it, and so its stream, to another job
	}
	for {
		d, err := db.deliveryForWork(ctx, selectHeadSQL, first.Event.LeadID, first.Endpoint)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return 0, nil // the stream is done
		case err != nil:
			return 0, fmt.Errorf("deliveries of lead %s: %w", first.Event.LeadID, err)
		case d.job == job.ID:
		case d.job != 0:
			return 0, nil // another job works the stream now
		default:
			// A head without a job: take it.
			if claimed, err := db.claimHead(ctx, d.ID, job.ID); err != nil || !claimed {
				return 0, err
			}
		}
		again, next, err := db.deliverHead(ctx, c, job.ID, d)
		if err != nil || !next {
			return again, err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < c.policy.TryTimeout+5*time.Second {
			return 0, river.JobSnooze(0) // go on in a new run, with the time of a run
		}
	}
}

// claimHead makes job the one working delivery id when no job does.
func (db *DB) claimHead(ctx context.Context, id string, job int64) (bool, error) {
	res, err := db.w.ExecContext(ctx, claimHeadSQL, id, job)
	if err != nil {
		return false, fmt.Errorf("delivery %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// deliverHead makes a try of d, the head of its stream, worked by job, and writes its
// result. next says d became final and the job has the stream's next delivery to work
// now; again, when to look again.
func (db *DB) deliverHead(ctx context.Context, c *courier, job int64, d delivery) (again time.Duration, next bool, err error) {
	now := db.now()
	ep, configured := db.endpoint(d.Endpoint)
	switch {
	case !configured && now.Sub(d.Event.At) > c.policy.GiveUpAfter:
		return db.drop(ctx, c, job, d, dialer.DeliveryGaveUp, reasonRemoved, now)
	case !configured:
		// Removed from the configuration, or not yet in this node's: a reload reaches
		// the nodes one by one. Nothing is sent from here; look again later.
		return unknownEndpointWait, false, nil
	case d.disabledAs != "" && d.disabledAs == ep.Version:
		return db.drop(ctx, c, job, d, dialer.DeliveryDisabled, reasonDisabled, now)
	case d.lease > millis(now):
		return fromMillis(d.lease).Sub(now), false, nil // a try is in progress
	case d.NextTryAt.After(now):
		return d.NextTryAt.Sub(now), false, nil // woken before its retry
	}

	if !d.hasBody {
		if d.body, err = c.Body(ctx, d.Event); err != nil {
			return 0, false, fmt.Errorf("delivery %s: body: %w", d.ID, err)
		}
	}
	lease := now.Add(c.policy.lease())
	started, err := db.startTry(ctx, &d, job, now, lease)
	if err != nil || !started {
		return time.Second, false, err
	}

	res := c.Send(ctx, d.Delivery, d.body)
	// The result is written even when the job's time ran out meanwhile.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	end := db.now()
	d.LastStatus, d.LastError = res.Status, res.Error
	switch res.Outcome {
	case dialer.TryDelivered:
		d.State, d.DoneAt, d.LastError = dialer.DeliveryDelivered, end, ""
	case dialer.TryGone:
		d.State, d.DoneAt = dialer.DeliveryDisabled, end
	default:
		if d.NextTryAt = c.policy.next(end, d.FirstTryAt, d.Tries, res); d.NextTryAt.IsZero() {
			d.State, d.DoneAt = dialer.DeliveryGaveUp, end
		} else {
			d.State = dialer.DeliveryFailed
			again = d.NextTryAt.Sub(end)
		}
	}
	if d.State.Final() {
		d.NextTryAt = time.Time{}
	}
	next, err = db.finishTry(wctx, job, d, ep, lease, end)
	switch {
	case errors.Is(err, errUnchanged):
		return 0, false, nil // the sweep gave the delivery to another job meanwhile
	case err != nil:
		// The lease lapses and the sweep gives the delivery another try.
		return 0, false, fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	c.Observe(d.Delivery, res)
	return again, next, nil
}

// endpoint returns the configured endpoint id.
func (db *DB) endpoint(id string) (Endpoint, bool) {
	e := db.endpoints.Load()
	if e == nil {
		return Endpoint{}, false
	}
	ep, ok := e.byID[id]
	return ep, ok
}

// deliveryForWork reads one delivery by query (selectDeliveryForWorkSQL,
// selectHeadSQL) and args; sql.ErrNoRows when there is none.
func (db *DB) deliveryForWork(ctx context.Context, query string, args ...any) (delivery, error) {
	var (
		d                           delivery
		typ, state                  string
		at, first, last, next, done int64
		body                        []byte
	)
	err := db.r.QueryRowContext(ctx, query, args...).Scan(&d.ID, &d.Event.ID, &typ, &at,
		&d.Event.LeadID, &d.Event.Dealer, &d.Endpoint, &d.URL, &state, &d.Tries, &first, &last, &next, &done,
		&d.LastStatus, &d.LastError, &d.job, &d.lease, &body, &d.disabledAs)
	if err != nil {
		return delivery{}, err
	}
	d.Event.Type, d.Event.At, d.State = dialer.EventType(typ), fromMillis(at), dialer.DeliveryState(state)
	d.FirstTryAt, d.LastTryAt, d.NextTryAt, d.DoneAt = fromMillis(first), fromMillis(last), fromMillis(next), fromMillis(done)
	d.body, d.hasBody = body, body != nil
	return d, nil
}

// startTry takes d's lease for job until lease, counts the try and fixes the event's
// body (the first try of the event to any endpoint writes it; any other reads it back).
// started is false when the delivery is no longer open, not job's, or being tried.
func (db *DB) startTry(ctx context.Context, d *delivery, job int64, now, lease time.Time) (started bool, err error) {
	err = db.deliveryTx(ctx, func(tx *sql.Tx) error {
		var first int64
		err := tx.QueryRowContext(ctx, startTrySQL, d.ID, job, millis(now), millis(lease)).Scan(&d.Tries, &first)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if !d.hasBody {
			if _, err := tx.ExecContext(ctx, freezeBodySQL, d.Event.ID, d.body); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, selectBodySQL, d.Event.ID).Scan(&d.body); err != nil {
				return err
			}
		}
		started, d.FirstTryAt, d.LastTryAt = true, fromMillis(first), now
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("delivery %s: start try: %w", d.ID, err)
	}
	return started, nil
}

// finishTry writes d's state after the try that held lease, and what follows from it:
// a disabled endpoint and its open deliveries; when d is final, the stream's next
// delivery handed to job (next). errUnchanged, and nothing written, when the try no
// longer holds the lease.
func (db *DB) finishTry(ctx context.Context, job int64, d delivery, ep Endpoint, lease, now time.Time) (next bool, err error) {
	err = db.deliveryTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockLead(ctx, tx, d.Event.LeadID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, finishTrySQL, d.ID, string(d.State), millis(d.NextTryAt), millis(d.DoneAt),
			d.LastStatus, d.LastError, millis(lease))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			// The sweep took the delivery from this try: the result is dropped.
			return errors.Join(err, errUnchanged)
		}
		if d.State == dialer.DeliveryDisabled {
			if _, err := tx.ExecContext(ctx, disableEndpointSQL, ep.ID, ep.Version, millis(now), reasonDisabled); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, disableOpenSQL, ep.ID, millis(now), reasonDisabled, d.ID); err != nil {
				return err
			}
		}
		if d.State.Final() {
			next, err = db.handNext(ctx, tx, job, d)
		}
		return err
	})
	return next, err
}

// drop ends d, worked by job, without a try, as state for reason, and hands the
// stream's next delivery to job (next).
func (db *DB) drop(ctx context.Context, c *courier, job int64, d delivery, state dialer.DeliveryState, reason string, now time.Time) (again time.Duration, next bool, err error) {
	var dropped bool
	err = db.deliveryTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockLead(ctx, tx, d.Event.LeadID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, dropSQL, d.ID, string(state), millis(now), reason, job)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		dropped = true
		next, err = db.handNext(ctx, tx, job, d)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	if dropped {
		d.State, d.DoneAt, d.NextTryAt, d.LastError = state, now, time.Time{}, reason
		c.Observe(d.Delivery, dialer.TryResult{})
	}
	return 0, next, nil
}

// lockLead locks lead id's row inside tx on PostgreSQL (lockLeadSQL).
func (db *DB) lockLead(ctx context.Context, tx *sql.Tx, id string) error {
	if db.dialect != Postgres {
		return nil
	}
	var one int
	err := tx.QueryRowContext(ctx, lockLeadSQL, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the lead is gone: nothing to keep in order
	}
	return err
}

// handNext hands the stream's next open delivery after d to job, inside tx; false when
// there is none.
func (db *DB) handNext(ctx context.Context, tx *sql.Tx, job int64, d delivery) (bool, error) {
	var next string
	err := tx.QueryRowContext(ctx, selectNextSQL, d.Event.LeadID, d.Endpoint, d.Event.ID).Scan(&next)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	_, err = tx.ExecContext(ctx, handOverSQL, next, job)
	return err == nil, err
}

// lapsedDeliveriesSQL lists the deliveries whose try's lease ran out: the node trying
// them died (webhook_deliveries_lease holds only tries in progress).
const lapsedDeliveriesSQL = `SELECT id, lease_until FROM webhook_deliveries
	WHERE lease_until <> 0 AND lease_until < $1 AND state IN ('pending', 'failed')`

// takeOverSQL gives a delivery whose try's lease ($3) lapsed a new job.
const takeOverSQL = `UPDATE webhook_deliveries SET job_id = $2, lease_until = 0 WHERE id = $1 AND lease_until = $3`

// idleHeadsSQL lists the streams' heads (open deliveries with no open one before them)
// that nobody is trying and that have been due since before $1: since their event,
// when never tried, else since their retry time. Their job should have taken them by
// then; takeOverIdle asks River whether it still may.
const idleHeadsSQL = `SELECT d.id, d.job_id FROM webhook_deliveries d
	JOIN lead_events e ON e.id = d.event_id
	WHERE d.state IN ('pending', 'failed') AND d.lease_until = 0
		AND CASE WHEN d.tries = 0 THEN e.at ELSE d.next_try_at END < $1
		AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
			WHERE p.lead_id = d.lead_id AND p.endpoint = d.endpoint AND p.event_id < d.event_id
				AND p.state IN ('pending', 'failed'))`

// takeIdleSQL gives an idle head, still worked by job $3 and not tried, a new job.
const takeIdleSQL = `UPDATE webhook_deliveries SET job_id = $2 WHERE id = $1 AND job_id = $3 AND lease_until = 0`

// takeOverLapsed gives a new job, due now, to every delivery whose try's lease lapsed,
// and to every stream head whose job died before its try took the lease (a node killed
// between River handing it the job and the try; River itself would rescue the job only
// after minutes), or ended without it.
func (db *DB) takeOverLapsed(ctx context.Context) error {
	now := db.now()
	lapsed, err := db.pairs(ctx, lapsedDeliveriesSQL, millis(now))
	if err != nil {
		return fmt.Errorf("sweep deliveries: %w", err)
	}
	for _, l := range lapsed {
		if err := db.giveNewJob(ctx, l.id, takeOverSQL, l.n); err != nil {
			return fmt.Errorf("sweep deliveries: %s: %w", l.id, err)
		}
	}
	grace := db.policy().lease()
	idle, err := db.pairs(ctx, idleHeadsSQL, millis(now.Add(-grace)))
	if err != nil {
		return fmt.Errorf("sweep deliveries: %w", err)
	}
	for _, h := range idle {
		if db.jobMayRun(ctx, h.n, grace) {
			continue
		}
		if err := db.giveNewJob(ctx, h.id, takeIdleSQL, h.n); err != nil {
			return fmt.Errorf("sweep deliveries: %s: %w", h.id, err)
		}
	}
	return nil
}

// jobMayRun reports whether River job id is waiting to run, or running for less than
// grace (so not on a node that died). A job that cannot be read is taken as alive: the
// next sweep looks again.
func (db *DB) jobMayRun(ctx context.Context, id int64, grace time.Duration) bool {
	if id == 0 {
		return false
	}
	job, err := db.q.client.JobGet(ctx, id)
	switch {
	case errors.Is(err, river.ErrNotFound):
		return false
	case err != nil:
		return true
	}
	switch job.State {
	case rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending:
		return true
	case rivertype.JobStateRunning:
		return job.AttemptedAt == nil || time.Since(*job.AttemptedAt) < grace
	}
	return false // completed, cancelled or discarded while its delivery is open
}

// idAndNumber is a delivery id and a number (a lease time, a job id) read with it.
type idAndNumber struct {
	id string
	n  int64
}

// pairs runs a query of (id, number) rows.
func (db *DB) pairs(ctx context.Context, query string, args ...any) ([]idAndNumber, error) {
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []idAndNumber
	for rows.Next() {
		var p idAndNumber
		if err := rows.Scan(&p.id, &p.n); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// giveNewJob inserts a job for delivery id and makes it the delivery's with update
// (takeOverSQL, takeIdleSQL: $1 id, $2 the new job, $3 guard), in one transaction; when
// the guard no longer holds (the delivery moved on meanwhile) nothing is written.
func (db *DB) giveNewJob(ctx context.Context, id, update string, guard int64) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		job, err := db.q.client.InsertTx(ctx, tx, deliverArgs{Delivery: id}, &river.InsertOpts{Queue: queueWebhooks})
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, update, id, job.Job.ID, guard)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, errUnchanged)
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

const selectDeliveriesSQL = `SELECT d.id, d.event_id, e.type, e.at, d.endpoint, COALESCE(w.url, ''), d.state,
		d.tries, d.first_try_at, d.last_try_at, d.next_try_at, d.done_at, d.last_status, d.last_error
	FROM webhook_deliveries d
	JOIN lead_events e ON e.id = d.event_id
	LEFT JOIN webhook_endpoints w ON w.id = d.endpoint
	WHERE d.lead_id = $1
	ORDER BY d.event_id, d.endpoint`

var _ dialer.DeliveryLog = (*DB)(nil)

// Deliveries returns the deliveries of the dealer's lead's events, by event then
// endpoint; none when no endpoint took them. ErrNotFound when the lead is missing or
// another dealer's (dealer "" matches any dealer).
func (db *DB) Deliveries(ctx context.Context, dealer, leadID string) ([]dialer.Delivery, error) {
	l, err := db.lead(ctx, leadID)
	if err == nil && dealer != "" && l.Dealer != dealer {
		err = dialer.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("deliveries of lead %s: %w", leadID, err)
	}
	rows, err := db.r.QueryContext(ctx, selectDeliveriesSQL, leadID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of lead %s: %w", leadID, err)
	}
	defer rows.Close()
	ds := []dialer.Delivery{}
	for rows.Next() {
		var (
			d                           dialer.Delivery
			typ, state                  string
			at, first, last, next, done int64
		)
		if err := rows.Scan(&d.ID, &d.Event.ID, &typ, &at, &d.Endpoint, &d.URL, &state, &d.Tries,
			&first, &last, &next, &done, &d.LastStatus, &d.LastError); err != nil {
			return nil, fmt.Errorf("deliveries of lead %s: %w", leadID, err)
		}
		d.Event.LeadID, d.Event.Dealer = leadID, l.Dealer
		d.Event.Type, d.Event.At, d.State = dialer.EventType(typ), fromMillis(at), dialer.DeliveryState(state)
		d.FirstTryAt, d.LastTryAt, d.NextTryAt, d.DoneAt = fromMillis(first), fromMillis(last), fromMillis(next), fromMillis(done)
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries of lead %s: %w", leadID, err)
	}
	return ds, nil
}
