package recording

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/leadline/leadline/dialer"
)

// Index finds and marks recordings by lead. *store.DB implements it.
type Index interface {
	// Recording returns the dealer's lead's recording; dialer.ErrNotFound when none.
	Recording(ctx context.Context, dealer, leadID string) (dialer.RecordingInfo, error)
	// RecordingDeleted notes the deletion; dialer.ErrNotFound when there is none left.
	RecordingDeleted(ctx context.Context, leadID, reason string, at time.Time) error
	// ExpiredRecordings returns up to limit undeleted recordings expired at now.
	ExpiredRecordings(ctx context.Context, now time.Time, limit int) ([]dialer.RecordingInfo, error)
}

// Library serves, erases and expires finished recordings: the API's GET and DELETE of
// a lead's recording and the retention job.
type Library struct {
	Store    Store
	Index    Index
	Now      func() time.Time // the retention job's clock; nil: time.Now
	Observer Observer
	Logger   *slog.Logger
}

func (l *Library) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

func (l *Library) observer() Observer {
	if l.Observer == nil {
		return nopObserver{}
	}
	return l.Observer
}

func (l *Library) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l.Logger
}

// Open returns the dealer's lead's finished recording and when it was made.
// dialer.ErrNotFound when the lead has none, it was deleted, or it is still being
// recorded.
func (l *Library) Open(ctx context.Context, dealer, leadID string) (io.ReadSeekCloser, time.Time, error) {
	info, err := l.Index.Recording(ctx, dealer, leadID)
	if err != nil {
		return nil, time.Time{}, err
	}
	if !info.DeletedAt.IsZero() || info.Bytes == 0 {
		return nil, time.Time{}, dialer.ErrNotFound
	}
	o, err := l.Store.Open(ctx, info.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, dialer.ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("open recording %s: %w", info.Key, err)
	}
	return o, info.StartedAt, nil
}

// Erase deletes the dealer's lead's recording at a customer's request and notes it in
// the lead; dialer.ErrNotFound when it has none (or none left).
func (l *Library) Erase(ctx context.Context, dealer, leadID string) error {
	info, err := l.Index.Recording(ctx, dealer, leadID)
	if err != nil {
		return err
	}
	if !info.DeletedAt.IsZero() {
		return dialer.ErrNotFound
	}
	return l.delete(ctx, info, dialer.DeletedErasure)
}

func (l *Library) delete(ctx context.Context, info dialer.RecordingInfo, reason string) error {
	if err := l.Store.Delete(ctx, info.Key); err != nil {
		l.observer().RecordingFailed("delete")
		return fmt.Errorf("delete recording %s: %w", info.Key, err)
	}
	if err := l.Index.RecordingDeleted(ctx, info.LeadID, reason, l.now()); err != nil {
		return err
	}
	l.observer().RecordingDeleted(reason)
	l.logger().Info("recording deleted", "lead_id", info.LeadID, "key", info.Key, "reason", reason)
	return nil
}

// expireBatch is how many expired recordings one Expire pass deletes at most.
const expireBatch = 500

// Expire deletes the recordings whose retention ran out by the Library's clock, and
// notes each in its lead. It returns how many it deleted.
func (l *Library) Expire(ctx context.Context) (int, error) {
	exp, err := l.Index.ExpiredRecordings(ctx, l.now(), expireBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, info := range exp {
		if err := l.delete(ctx, info, dialer.DeletedRetention); err != nil && !errors.Is(err, dialer.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// RunRetention runs Expire every interval until ctx ends.
func (l *Library) RunRetention(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := l.Expire(ctx); err != nil {
			l.logger().Warn("recording retention", "deleted", n, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
