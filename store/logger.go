package store

import (
	"context"
	"log/slog"
)

// quieter is log for River, with River's info lines (client started and stopped,
// leadership, periodic maintenance) at debug: they say nothing an operator acts on.
// Warnings and errors stay as they are.
func quieter(log *slog.Logger) *slog.Logger {
	return slog.New(demoted{log.Handler()})
}

// demoted is a slog.Handler that passes info records on as debug.
type demoted struct{ h slog.Handler }

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, shift(l)) }

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	r.Level = shift(r.Level)
	return d.h.Handle(ctx, r)
}

func (d demoted) WithAttrs(as []slog.Attr) slog.Handler { return demoted{d.h.WithAttrs(as)} }
func (d demoted) WithGroup(name string) slog.Handler    { return demoted{d.h.WithGroup(name)} }

func shift(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}
