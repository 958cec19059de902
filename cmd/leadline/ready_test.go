package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadline/leadline/simphone"
)

// rtpReady is TestReadyWhenTheStoreIsFull's RTP range (see harness_test.go).
const rtpReady = "24600-24699"

// TestReadyWhenTheStoreIsFull: when the SQLite database cannot grow (as on a full
// disk: SQLITE_FULL), a post is answered 503, its cause is logged without the lead,
// and /readyz answers 503 saying why; with room again, a lead is taken and /readyz is
// 200. store.TestReadyOnAFullDisk does the same on a real full file system.
func TestReadyWhenTheStoreIsFull(t *testing.T) {
	piet := newPhone(t, "piet", simphone.Behaviour{Never: true})
	ta := startTestApp(t, appSpec{
		rtp:    rtpReady,
		people: []person{{"piet", "Piet de Vries", piet.URI()}},
		flow:   "[piet]",
		ring:   time.Second,
	})
	ctx := t.Context()
	var pages int
	if err := ta.db.SQL().QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer is one connection, so the pragma holds for every write: no new page.
	if _, err := ta.db.SQL().ExecContext(ctx, "PRAGMA max_page_count = "+strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	const name, message = "Geheime Klant", "bel-me-na-vijven"
	var (
		status int
		body   []byte
	)
	for i := range 200 {
		status, _, body = ta.post(t, testKey, "application/json",
			fmt.Sprintf(`{"phone":"06-1200%04d","name":%q,"message":%q}`, i, name, message+strings.Repeat("x", 1500)))
		if status != http.StatusAccepted {
			break
		}
	}
	t.Logf("refused: %s", body)
	if detail := problemDetail(t, status, body, http.StatusServiceUnavailable, "unavailable"); !strings.Contains(detail, "nothing was stored") {
		t.Errorf("detail %q", detail)
	}

	logs := ta.logs.String()
	var line string
	for l := range strings.Lines(logs) {
		if strings.Contains(l, "lead store unavailable") {
			line = l
		}
	}
	t.Logf("logged: %s", line)
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "database or disk is full") {
		t.Errorf("the 503's cause is not logged at error level:\n%s", logs)
	}
	for _, s := range []string{name, message, "+3161200", "06-1200"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds lead data %q", s)
		}
	}

	res, err := http.Get(ta.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Type, Detail string
		Status       int
	}
	err = json.NewDecoder(res.Body).Decode(&p)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusServiceUnavailable || !strings.HasSuffix(p.Type, "#not-ready") ||
		!strings.Contains(p.Detail, "a lead could not be written") || !strings.Contains(p.Detail, "database or disk is full") {
		t.Fatalf("/readyz: %d %+v (%v); want 503 not-ready saying the store is full", res.StatusCode, p, err)
	}
	t.Logf("/readyz: %s", p.Detail)

	// Room again (the disk freed): a lead is taken, and the node is ready.
	if _, err := ta.db.SQL().ExecContext(ctx, "PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if status, _, body := ta.post(t, testKey, "application/json", `{"phone":"06-12999999"}`); status != http.StatusAccepted {
		t.Fatalf("with room again: %d %s", status, body)
	}
	if res, err := http.Get(ta.base + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("/readyz with room again: %v %v", res.StatusCode, err)
	} else {
		res.Body.Close()
	}
}

// problemDetail checks an answer is a problem of the given status and type and returns
// its detail.
func problemDetail(t *testing.T, status int, body []byte, want int, kind string) string {
	t.Helper()
	var p struct {
		Type, Detail string
		Status       int
	}
	if err := json.Unmarshal(body, &p); err != nil || status != want || p.Status != want || !strings.HasSuffix(p.Type, "#"+kind) {
		t.Fatalf("answer %d %s (%v); want %d #%s", status, body, err, want, kind)
	}
	return p.Detail
}
