package store

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestQuieter(t *testing.T) {
	var b bytes.Buffer
	log := quieter(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log.Info("River client started")
	log.Warn("job failed")
	if out := b.String(); strings.Contains(out, "River client started") || !strings.Contains(out, "level=WARN msg=\"job failed\"") {
		t.Errorf("at level info:\n%s", out)
	}
	b.Reset()
	log = quieter(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.With("client", "x").Info("River client started")
	if !strings.Contains(b.String(), "level=DEBUG msg=\"River client started\" client=x") {
		t.Errorf("at level debug: %s", b.String())
	}
}
