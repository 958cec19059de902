package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// BenchmarkIntake measures issue 2's intake goal: the time from sending POST /v1/leads
// to the first INVITE of the flow arriving at the salesperson's phone (goal: p99 under
// 5 ms on 2 cores), on the default SQLite store (synchronous=FULL) and, to show what the
// fsyncs cost, on the same file with synchronous=NORMAL. The phone is a bare sipgo UAS
// (busyPhone) that stamps each INVITE as its socket read returns and answers 486 at
// once, so each lead ends quickly; the flow is one person. Leads are posted one at a
// time, each after the previous flow finished, so every figure is one lead's own path:
// HTTP, validation, CreateLead (which also claims the lead and queues its River job),
// then the flow's InsertAttempt, then the INVITE. With PG_TEST_URL set it measures
// PostgreSQL too. Every lead has its own number (the daily cap per number holds).
// sqlite-webhooks is sqlite with a webhook endpoint for every event (benchReceiver):
// each lead's transaction then also writes its lead.received delivery and that
// delivery's job, and the deliveries go out while the next leads arrive.
//
//	go test -run '^$' -bench BenchmarkIntake -benchtime 1000x ./cmd/leadline/
func BenchmarkIntake(b *testing.B) {
	type benchCase struct {
		name, url string
		hooks     bool
	}
	cases := []benchCase{
		{"sqlite", "sqlite://%s/leadline.db", false},
		{"sqlite-sync-normal", "sqlite://%s/leadline.db?_synchronous=NORMAL", false},
		{"sqlite-webhooks", "sqlite://%s/leadline.db", true},
	}
	if u := os.Getenv("PG_TEST_URL"); u != "" {
		cases = append(cases, benchCase{"postgres", u, false}, benchCase{"postgres-webhooks", u, true})
	}
	numbers := rand.IntN(1_000_000)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			ph := newBusyPhone(b)
			url := bc.url
			if strings.HasPrefix(url, "sqlite") {
				url = fmt.Sprintf(url, b.TempDir())
			}
			spec := appSpec{
				storeURL: url,
				rtp:      rtpIntake,
				people:   []person{{"piet", "Piet de Vries", ph.uri()}},
				flow:     "[piet]",
				logLevel: slog.LevelError, // logging is not what is measured
			}
			if bc.hooks {
				withHooks(&spec, newBenchReceiver(b).url)
			}
			ta := startTestApp(b, spec)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			post := func() (string, error) {
				numbers++
				body := fmt.Sprintf(`{"name":"Eva Jansen","phone":"+3162%07d","interest":"Volvo XC60","source":"website"}`, numbers%10_000_000)
				req, _ := http.NewRequest(http.MethodPost, ta.base+"/v1/leads", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+testKey)
				res, err := client.Do(req)
				if err != nil {
					return "", err
				}
				defer res.Body.Close()
				out, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusAccepted {
					return "", fmt.Errorf("%s: %s", res.Status, out)
				}
				var l struct{ ID string }
				err = json.Unmarshal(out, &l)
				return l.ID, err
			}
			// Warm up: connections, prepared statements, the first whisper.
			for range 5 {
				id, err := post()
				if err != nil {
					b.Fatal(err)
				}
				ph.wait(b, id)
				waitIdle(b, ta)
			}

			toInvite := make([]time.Duration, 0, b.N)
			toAnswer := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				id, err := post()
				answered := time.Now()
				if err != nil {
					b.Fatal(err)
				}
				at := ph.wait(b, id)
				toInvite = append(toInvite, at.Sub(start))
				toAnswer = append(toAnswer, answered.Sub(start))
				b.StopTimer()
				waitIdle(b, ta) // the lead's flow has finished: the next lead starts alone
				b.StartTimer()
			}
			b.StopTimer()
			reportPercentiles(b, "invite", toInvite)
			reportPercentiles(b, "202", toAnswer)
		})
	}
}

// reportPercentiles reports p50, p90, p99 and max of d in milliseconds.
func reportPercentiles(b *testing.B, name string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(p float64) float64 {
		i := min(len(d)-1, int(p*float64(len(d))))
		return float64(d[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), name+"-p50-ms")
	b.ReportMetric(at(0.90), name+"-p90-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
	b.ReportMetric(float64(d[len(d)-1])/float64(time.Millisecond), name+"-max-ms")
}

// waitIdle waits until the app runs no flow and no call.
func waitIdle(tb testing.TB, ta *testApp) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ta.svc.Running() > 0 || ta.ua.ActiveCalls() > 0 {
		if time.Now().After(deadline) {
			tb.Fatalf("still %d flows and %d calls after 10 s", ta.svc.Running(), ta.ua.ActiveCalls())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// busyPhone is a salesperson's phone reduced to what the intake benchmark needs: it
// notes when each lead's first INVITE came off its socket and answers 486 Busy Here.
type busyPhone struct {
	conn *stampConn
	ua   *sipgo.UserAgent

	mu      sync.Mutex
	arrived map[string]time.Time // lead id → first INVITE
	signal  chan struct{}        // a new INVITE arrived
}

func newBusyPhone(tb testing.TB) *busyPhone {
	tb.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &busyPhone{arrived: map[string]time.Time{}, signal: make(chan struct{}, 1)}
	p.conn = &stampConn{PacketConn: pc, stamp: p.stamp}
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgent("busy")); err != nil {
		tb.Fatal(err)
	}
	srv, err := sipgo.NewServer(p.ua)
	if err != nil {
		tb.Fatal(err)
	}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewResponseFromRequest(req, 486, "Busy Here", nil)
		if to := res.To(); to != nil && !to.Params.Has("tag") {
			to.Params.Add("tag", "busy")
		}
		_ = tx.Respond(res)
	})
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	go func() { _ = srv.ServeUDP(p.conn) }()
	tb.Cleanup(func() {
		_ = p.ua.Close()
		_ = pc.Close()
	})
	return p
}

func (p *busyPhone) uri() string { return "sip:piet@" + p.conn.LocalAddr().String() }

func (p *busyPhone) stamp(lead string, at time.Time) {
	p.mu.Lock()
	if _, ok := p.arrived[lead]; !ok {
		p.arrived[lead] = at
	}
	p.mu.Unlock()
	select {
	case p.signal <- struct{}{}:
	default:
	}
}

// wait returns when lead's first INVITE arrived.
func (p *busyPhone) wait(tb testing.TB, lead string) time.Time {
	timeout := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		at, ok := p.arrived[lead]
		p.mu.Unlock()
		if ok {
			return at
		}
		select {
		case <-p.signal:
		case <-timeout:
			tb.Fatalf("no INVITE for lead %s within 10 s", lead)
		}
	}
}

// stampConn notes the time each INVITE's datagram is read, before sipgo parses it.
type stampConn struct {
	net.PacketConn
	stamp func(lead string, at time.Time)
}

func (c *stampConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err == nil && bytes.HasPrefix(b[:n], []byte("INVITE ")) {
		at := time.Now()
		if lead := rawHeader(b[:n], "X-Leadline-Lead"); lead != "" {
			c.stamp(lead, at)
		}
	}
	return n, addr, err
}

// rawHeader finds a header's value in a SIP message's bytes.
func rawHeader(msg []byte, name string) string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
