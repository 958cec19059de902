package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// batcher commits the delivery jobs' small writes on SQLite in groups: each job's write
// runs in a savepoint of one transaction shared with the writes that arrived meanwhile,
// and the group is committed, and synced to disk, once. SQLite has one writer; without
// this, a burst of deliveries costs two commits each, and the leads coming in wait
// behind them for the writer. A write that fails is rolled back to its savepoint and
// fails alone.
type batcher struct {
	db   *sql.DB
	reqs chan *batchReq
	stop chan struct{}
	once sync.Once // closes stop
	done sync.WaitGroup
}

type batchReq struct {
	ctx context.Context
	f   func(tx *sql.Tx) error
	err chan error // buffered
}

// maxBatch bounds the writes committed together.
const maxBatch = 16

func newBatcher(db *sql.DB) *batcher {
	b := &batcher{db: db, reqs: make(chan *batchReq), stop: make(chan struct{})}
	b.done.Add(1)
	go b.run()
	return b
}

// close stops the batcher once the group in progress is committed; later writes fail.
// It is idempotent.
func (b *batcher) close() {
	b.once.Do(func() { close(b.stop) })
	b.done.Wait()
}

var errClosed = errors.New("store closed")

// do runs f in the next group and returns once that group is committed: f's error, or
// the commit's.
func (b *batcher) do(ctx context.Context, f func(tx *sql.Tx) error) error {
	r := &batchReq{ctx: ctx, f: f, err: make(chan error, 1)}
	select {
	case b.reqs <- r:
	case <-b.stop:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-r.err
}

func (b *batcher) run() {
	defer b.done.Done()
	for {
		var first *batchReq
		select {
		case first = <-b.reqs:
		case <-b.stop:
			return
		}
		group := []*batchReq{first}
	more:
		for len(group) < maxBatch {
			select {
			case r := <-b.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		b.commit(group)
	}
}

// commit runs the group's writes, each in a savepoint, and commits them together.
func (b *batcher) commit(group []*batchReq) {
	errs := make([]error, len(group))
	err := func() error {
		tx, err := b.db.BeginTx(context.Background(), nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if _, err := tx.ExecContext(r.ctx, "SAVEPOINT w"); err != nil {
				return err
			}
			if errs[i] = r.f(tx); errs[i] != nil {
				if _, err := tx.ExecContext(context.Background(), "ROLLBACK TO SAVEPOINT w"); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
			}
			if _, err := tx.ExecContext(context.Background(), "RELEASE SAVEPOINT w"); err != nil {
				return err
			}
		}
		return tx.Commit()
	}()
	for i, r := range group {
		if err != nil && errs[i] == nil {
			errs[i] = err
		}
		r.err <- errs[i]
	}
}

// deliveryTx is inTx for the delivery jobs' writes. On SQLite they are committed in
// groups (batcher), so that a burst of deliveries costs a commit per group, not two per
// delivery, and the leads coming in find the one writer free sooner.
func (db *DB) deliveryTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if db.batch != nil {
		return db.batch.do(ctx, f)
	}
	return db.inTx(ctx, f)
}
