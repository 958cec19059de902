package main

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchReceiver is a CRM endpoint for benchmarks: it answers 204 at once and counts the
// distinct webhook-ids it got (signatures are the tests' business, not the benchmarks').
type benchReceiver struct {
	url  string
	mu   sync.Mutex
	seen map[string]bool // guarded by mu
	n    atomic.Int64    // len(seen)
}

func newBenchReceiver(tb testing.TB) *benchReceiver {
	r := &benchReceiver{seen: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		if !r.seen[id] {
			r.seen[id] = true
			r.n.Add(1)
		}
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(srv.Close)
	r.url = srv.URL + "/hooks"
	return r
}

// withHooks gives the test dealer a webhook to url for every event.
func withHooks(spec *appSpec, url string) {
	spec.extra += "\nwebhooks: {allow_private_targets: true}"
	spec.dealerExtra += fmt.Sprintf("\n    webhooks:\n      - {url: %q, secret: %q}", url, hookSecret)
}

// BenchmarkWebhookBurst measures issue 12's webhook goal: a burst of b.N leads posted
// at once (8 clients) with a webhook for every event, on SQLite (and PostgreSQL with
// PG_TEST_URL), and the same burst without webhooks (-no-webhooks) to compare intake. Each lead rings one salesperson, who is busy (486 at once): three events
// a lead (received, reached_owner, exhausted), so 3×b.N deliveries. It reports the
// intake (202 p50/p99, all leads taken) and how long after the last 202 the last
// delivery arrived (drain-s), and the deliveries per second over the whole burst.
//
//	go test -run '^$' -bench BenchmarkWebhookBurst -benchtime 1000x ./cmd/leadline/
func BenchmarkWebhookBurst(b *testing.B) {
	type benchCase struct {
		name, url string
		hooks     bool // false: the same burst without webhooks, for comparison
	}
	cases := []benchCase{{"sqlite", "sqlite://%s/leadline.db", true}, {"sqlite-no-webhooks", "sqlite://%s/leadline.db", false}}
	if u := os.Getenv("PG_TEST_URL"); u != "" {
		cases = append(cases, benchCase{"postgres", u, true}, benchCase{"postgres-no-webhooks", u, false})
	}
	numbers := rand.IntN(1_000_000)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ph := newBusyPhone(b)
			url := bc.url
			if strings.HasPrefix(url, "sqlite") {
				url = fmt.Sprintf(url, b.TempDir())
			}
			r := newBenchReceiver(b)
			spec := appSpec{
				storeURL: url, rtp: rtpIntake,
				people: []person{{"piet", "Piet de Vries", ph.uri()}}, flow: "[piet]",
				logLevel: slog.LevelError,
				extra:    "max_leads_per_number_per_day: 100000",
			}
			perLead := int64(0)
			if bc.hooks {
				withHooks(&spec, r.url)
				perLead = 3
			}
			ta := startTestApp(b, spec)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			post := func(n int) (time.Duration, error) {
				body := fmt.Sprintf(`{"name":"Eva Jansen","phone":"+3162%07d","source":"website"}`, n%10_000_000)
				req, _ := http.NewRequest(http.MethodPost, ta.base+"/v1/leads", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testKey)
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				defer res.Body.Close()
				_, _ = io.Copy(io.Discard, res.Body)
				if res.StatusCode != http.StatusAccepted {
					return 0, fmt.Errorf("POST: %s", res.Status)
				}
				return time.Since(start), nil
			}
			// Warm up: connections, prepared statements, the first whisper and deliveries.
			for range 5 {
				numbers++
				if _, err := post(numbers); err != nil {
					b.Fatal(err)
				}
			}
			for deadline := time.Now().Add(30 * time.Second); r.n.Load() < 5*perLead; {
				if time.Now().After(deadline) {
					b.Fatalf("warm-up: %d of %d deliveries", r.n.Load(), 5*perLead)
				}
				time.Sleep(10 * time.Millisecond)
			}
			before := r.n.Load()

			b.ResetTimer()
			start := time.Now()
			took := make([]time.Duration, b.N)
			next := make(chan int)
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for i := range next {
						d, err := post(numbers + 1 + i)
						if err != nil {
							b.Error(err)
						}
						took[i] = d
					}
				})
			}
			for i := range b.N {
				next <- i
			}
			close(next)
			wg.Wait()
			numbers += b.N
			taken := time.Since(start)
			want := before + perLead*int64(b.N)
			for deadline := time.Now().Add(2 * time.Minute); r.n.Load() < want; {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d deliveries after 2 minutes", r.n.Load()-before, perLead*int64(b.N))
				}
				time.Sleep(5 * time.Millisecond)
			}
			drained := time.Since(start)
			b.StopTimer()
			reportPercentiles(b, "202", took)
			b.ReportMetric(taken.Seconds(), "intake-s")
			if bc.hooks {
				b.ReportMetric((drained - taken).Seconds(), "drain-s")
				b.ReportMetric(float64(perLead*int64(b.N))/drained.Seconds(), "deliveries/s")
			}
			waitIdle(b, ta)
		})
	}
}
