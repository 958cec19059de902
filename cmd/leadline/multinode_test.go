package main

// Several `leadline serve` processes on one PostgreSQL: each lead is dialled by exactly
// one node, a node killed mid-flow has its leads taken over, and a database that goes
// away refuses leads with 503 and comes back by itself. These tests run the real binary
// and the PostgreSQL of PG_TEST_URL (scripts/test.sh starts it), each in a database of
// its own; they are skipped without it.

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx", to see the queue's jobs

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/pgtest"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
)

const mnKey = testKey // the key of appSpec's dealer

// Customers are only rung 08:00-21:00 in their own time and these tests run a real
// clock: their customers live where it is day now (Amsterdam, New York or Tokyo).
var daytimeFormat = sync.OnceValue(func() string {
	for _, c := range []struct{ zone, format string }{
		{"Europe/Amsterdam", "+3161%07d"}, {"America/New_York", "+1646%07d"}, {"Asia/Tokyo", "+81901%07d"},
	} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			continue
		}
		if h := time.Now().In(loc).Hour(); h >= 9 && h < 20 {
			return c.format
		}
	}
	return "+3161%07d"
})

// customer returns the n-th customer number of a test, in a country where it is day.
func customer(n int) string { return fmt.Sprintf(daytimeFormat(), 2000000+n) }

// mnCluster is a database for the nodes and the leadline binary.
type mnCluster struct {
	url string
	dir string // PG_TEST_DIR of a server of the test's own (newMNClusterOwnPG)
	bin string
}

// newMNCluster gives the nodes a database of their own on the suite's PostgreSQL.
func newMNCluster(t *testing.T) *mnCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-node tests run the real binary; skipped with -short")
	}
	return &mnCluster{url: pgtest.URL(t), bin: buildLeadline(t)}
}

// newMNClusterOwnPG starts a PostgreSQL server of the test's own, for a test that stops
// it (c.pg): the suite's server must not go away under the other tests.
func newMNClusterOwnPG(t *testing.T) *mnCluster {
	t.Helper()
	if os.Getenv("PG_TEST_URL") == "" {
		t.Skip("PG_TEST_URL not set: run scripts/test.sh (it starts PostgreSQL)")
	}
	if testing.Short() {
		t.Skip("multi-node tests run the real binary; skipped with -short")
	}
	c := &mnCluster{bin: buildLeadline(t)}
	pg := exec.Command("../../scripts/pg.sh", "start")
	pg.Env = append(os.Environ(), "PG_TEST_DIR=")
	out, err := pg.Output()
	if err != nil {
		t.Fatalf("pg.sh start: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "export PG_TEST_URL="); ok {
			c.url = strings.Trim(v, "'")
		}
		if v, ok := strings.CutPrefix(line, "export PG_TEST_DIR="); ok {
			c.dir = strings.Trim(v, "'")
		}
	}
	t.Cleanup(func() { c.pg(t, "stop") })
	return c
}

func (c *mnCluster) pg(t *testing.T, verb string) {
	t.Helper()
	cmd := exec.Command("../../scripts/pg.sh", verb)
	cmd.Env = append(os.Environ(), "PG_TEST_DIR="+c.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("pg.sh %s: %v\n%s", verb, err, out)
	}
}

// mnNode is one `leadline serve` process.
type mnNode struct {
	name string
	cmd  *exec.Cmd
	base string // http://host:port
	smtp string // host:port of its SMTP receiver, if it runs one
	// ready is its --ready-file.
	ready string
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan struct{}
}

// start runs a node with the given people and flow; takeover is short so the test is.
func (c *mnCluster) start(t *testing.T, name, rtp, trunk string, people []person, flow string) *mnNode {
	t.Helper()
	cfg := appSpec{
		nodeID: name, rtp: rtp, trunk: trunk, storeURL: c.url, people: people, flow: flow,
		ring: 30 * time.Second, accept: 3 * time.Second, customerRing: 10 * time.Second,
		extra: "takeover_after: 3s", dealerExtra: "    countries: [NL, US, JP]",
	}.yaml(t)
	return runServe(t, c.bin, name, string(cfg))
}

// buildLeadline builds the leadline binary once for all the tests of this package that
// run it as a process, into a folder removed when the package's tests end (TestMain).
func buildLeadline(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "leadline-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		bin := filepath.Join(dir, "leadline")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.bin = bin
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// built is the binary buildLeadline made.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

// runServe runs `leadline serve` with the configuration cfg (and env added to the
// environment) until the test ends and returns once it serves: its --ready-file is there.
func runServe(t *testing.T, bin, name, cfg string, env ...string) *mnNode {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &mnNode{name: name, done: make(chan struct{})}
	n.ready = filepath.Join(filepath.Dir(path), name+".ready")
	n.cmd = exec.Command(bin, "serve", "--config", path, "--drain", "1s", "--ready-file", n.ready)
	if len(env) > 0 {
		n.cmd.Env = append(os.Environ(), env...)
	}
	stderr, _ := n.cmd.StderrPipe()
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(n.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
		}
		n.cmd.Wait()
	}()
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() {
			n.mu.Lock()
			t.Logf("--- log of %s ---\n%s", n.name, n.log.String())
			n.mu.Unlock()
		}
	})
	var ready readyInfo
	exited := false
	wait.For(t, 30*time.Second, name+" to serve", func() bool {
		select {
		case <-n.done:
			exited = true
			return true
		default:
		}
		data, err := os.ReadFile(n.ready)
		return err == nil && json.Unmarshal(data, &ready) == nil
	})
	if exited {
		t.Fatalf("%s exited:\n%s", name, n.logs())
	}
	n.base, n.smtp = "http://"+ready.HTTP, ready.SMTP
	return n
}

func (n *mnNode) logs() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

func (n *mnNode) kill() {
	n.cmd.Process.Kill() // SIGKILL: no drain, no lease release
	<-n.done
}

type mnLead struct {
	ID       string        `json:"id"`
	Status   dialer.Status `json:"status"`
	Attempts []struct {
		Leg, Person, Result string
	} `json:"attempts"`
}

func (n *mnNode) post(t *testing.T, body string, hdr ...string) (int, mnLead) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.base+"/v1/leads", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+mnKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var l mnLead
	data, _ := io.ReadAll(res.Body)
	json.Unmarshal(data, &l)
	return res.StatusCode, l
}

func (n *mnNode) get(t *testing.T, id string) mnLead {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.base+"/v1/leads/"+id, nil)
	req.Header.Set("X-API-Key", mnKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var l mnLead
	if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// waitFinal polls until the lead is final and returns it.
func (n *mnNode) waitFinal(t *testing.T, id string, within time.Duration) mnLead {
	t.Helper()
	var l mnLead
	wait.For(t, within, "lead "+id+" final", func() bool {
		l = n.get(t, id)
		return l.Status.Final()
	})
	return l
}

// queueSettled waits until the queue holds nothing that could dial a lead in ids again:
// the sweep that makes lapsed leases due (River's periodic job, every takeover_after)
// has completed since the call, and none of their watch jobs is due or running (a final
// lead's job waits dialer.LocalWatch, or is done). River keeps completed jobs for a day.
func queueSettled(t *testing.T, dbURL string, ids []string) {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	var since time.Time
	if err := db.QueryRowContext(ctx, "SELECT now()").Scan(&since); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, "a sweep, and no lead's watch job due", func() bool {
		var sweeps, due int
		err := db.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM river_job WHERE kind = 'leadline_sweep_lapsed_leases'
				AND state = 'completed' AND finalized_at > $1),
			(SELECT count(*) FROM river_job WHERE kind = 'leadline_watch_lead'
				AND args->>'lead_id' = ANY($2) AND (state IN ('available', 'running', 'retryable')
				OR state = 'scheduled' AND scheduled_at <= now()))`, since, ids).Scan(&sweeps, &due)
		if err != nil {
			t.Fatalf("queue: %v", err)
		}
		return sweeps > 0 && due == 0
	})
}

func phone(t *testing.T, name string, b simphone.Behaviour) *simphone.Phone {
	t.Helper()
	p, err := simphone.NewPhone(name, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// invitesFor counts the INVITEs a phone got for a lead.
func invitesFor(p *simphone.Phone, lead string) int {
	n := 0
	for _, c := range p.Calls() {
		if c.Header("X-Leadline-Lead") == lead {
			n++
		}
	}
	return n
}

func TestMultiNodeEachLeadDialledOnce(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	c := newMNCluster(t)
	piet := phone(t, "piet", simphone.Behaviour{Ring: 50 * time.Millisecond, Code: 486})
	carrier := phone(t, "carrier", simphone.Behaviour{Never: true})
	people := []person{{"piet", "Piet", piet.URI()}}
	nodes := []*mnNode{
		c.start(t, "node-a", "22000-22199", carrier.Addr().String(), people, "[piet]"),
		c.start(t, "node-b", "22200-22399", carrier.Addr().String(), people, "[piet]"),
		c.start(t, "node-c", "22400-22599", carrier.Addr().String(), people, "[piet]"),
	}
	var ids []string
	for i := range 30 {
		code, l := nodes[i%3].post(t, fmt.Sprintf(`{"phone":%q,"name":"Lead %d"}`, customer(i), i))
		if code != http.StatusAccepted {
			t.Fatalf("post %d: %d", i, code)
		}
		ids = append(ids, l.ID)
	}
	for i, id := range ids {
		l := nodes[(i+1)%3].waitFinal(t, id, 30*time.Second)
		if l.Status != "exhausted" {
			t.Errorf("lead %d: %s", i, l.Status)
		}
	}
	// Once the sweep of lapsed leases has run since, and no lead's watch job is due or
	// running, no node is about to take one of these leads up again: still one INVITE a
	// lead.
	queueSettled(t, c.url, ids)
	for i, id := range ids {
		if n := invitesFor(piet, id); n != 1 {
			t.Errorf("lead %d was dialled %d times", i, n)
		}
	}

	// Idempotency holds across nodes.
	p1, p2 := fmt.Sprintf(`{"phone":%q}`, customer(999)), fmt.Sprintf(`{"phone":%q,"external_id":"ext-7"}`, customer(998))
	code1, first := nodes[0].post(t, p1, "Idempotency-Key", "crm-42")
	code2, again := nodes[1].post(t, p1, "Idempotency-Key", "crm-42")
	code3, ext := nodes[2].post(t, p2)
	code4, ext2 := nodes[0].post(t, p2)
	if code1 != 202 || code2 != 200 || again.ID != first.ID || code3 != 202 || code4 != 200 || ext2.ID != ext.ID {
		t.Errorf("repeats across nodes: %d %d %v, %d %d %v", code1, code2, again.ID == first.ID, code3, code4, ext2.ID == ext.ID)
	}
}

// A node killed while ringing has its lead taken over by another, which continues with
// the next step; a node killed while bridged never has its customer dialled again.
func TestMultiNodeKilledNodeIsTakenOver(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	c := newMNCluster(t)
	piet := phone(t, "piet", simphone.Behaviour{Never: true})
	owner := phone(t, "owner", simphone.Behaviour{Ring: 300 * time.Millisecond, Key: '1', KeyAfter: 500 * time.Millisecond})
	carrier := phone(t, "carrier", simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 500, HangUp: 2 * time.Second})
	carrier.Behave(customer(2), simphone.Behaviour{Ring: 300 * time.Millisecond, Tone: 500}) // talks until hung up
	people := []person{{"piet", "Piet", piet.URI()}, {"owner", "Jan", owner.URI()}}
	a := c.start(t, "node-a", "22600-22799", carrier.Addr().String(), people, "[piet, owner]")
	b := c.start(t, "node-b", "22800-22999", carrier.Addr().String(), people, "[piet, owner]")

	_, l := a.post(t, fmt.Sprintf(`{"phone":%q,"name":"Eva"}`, customer(1)))
	wait.For(t, 5*time.Second, "piet rung", func() bool { return invitesFor(piet, l.ID) == 1 })
	// A salesperson's attempt is written while the INVITE leaves (docs/DESIGN.md): a kill
	// in that millisecond would have piet rung once more. Kill once it is recorded.
	wait.For(t, 5*time.Second, "piet's attempt recorded", func() bool { return len(b.get(t, l.ID).Attempts) == 1 })
	a.kill()
	killed := time.Now()
	got := b.waitFinal(t, l.ID, 60*time.Second)
	t.Logf("taken over and finished %v after kill -9", time.Since(killed).Round(100*time.Millisecond))
	want := []string{"agent:piet:failed", "agent:owner:accepted", "customer:owner:answered"}
	var have []string
	for _, at := range got.Attempts {
		have = append(have, at.Leg+":"+at.Person+":"+at.Result)
	}
	if got.Status != "completed" || strings.Join(have, " ") != strings.Join(want, " ") {
		t.Errorf("after takeover: %s %v, want completed %v", got.Status, have, want)
	}
	if n := invitesFor(piet, l.ID); n != 1 {
		t.Errorf("piet rung %d times", n)
	}

	// Killed while bridged: node c dies mid-call; node b resumes the lead and does not
	// dial the customer again.
	c3 := c.start(t, "node-c", "22600-22799", carrier.Addr().String(), people, "[owner]")
	_, l2 := c3.post(t, fmt.Sprintf(`{"phone":%q,"name":"Noah"}`, customer(2)))
	wait.For(t, 20*time.Second, "lead 2 connected", func() bool { return b.get(t, l2.ID).Status == "connected" })
	c3.kill()
	got = b.waitFinal(t, l2.ID, 60*time.Second)
	if got.Status != "completed" {
		t.Errorf("bridged lead after kill: %s", got.Status)
	}
	if n := invitesFor(carrier, l2.ID); n != 1 {
		t.Errorf("customer dialled %d times", n)
	}
}

// PostgreSQL going away: new leads get 503 (never 202 for a lead not stored), a call in
// progress continues, and everything resumes by itself when the database is back.
func TestMultiNodeDatabaseGoesAway(t *testing.T) {
	t.Parallel() // mostly waiting on real-time calls: runs beside the others
	// This test stops PostgreSQL: it has a server of its own.
	c := newMNClusterOwnPG(t)
	owner := phone(t, "owner", simphone.Behaviour{Ring: 200 * time.Millisecond, Key: '1', KeyAfter: 300 * time.Millisecond})
	carrier := phone(t, "carrier", simphone.Behaviour{Ring: 200 * time.Millisecond, Tone: 500, HangUp: 6 * time.Second})
	people := []person{{"owner", "Jan", owner.URI()}}
	a := c.start(t, "node-a", "23000-23199", carrier.Addr().String(), people, "[owner]")

	_, l := a.post(t, fmt.Sprintf(`{"phone":%q}`, customer(1)))
	wait.For(t, 20*time.Second, "the call connected", func() bool { return a.get(t, l.ID).Status == "connected" })
	renewals := strings.Count(a.logs(), `msg="renewing leases"`)
	c.pg(t, "down")
	code, _ := a.post(t, fmt.Sprintf(`{"phone":%q}`, customer(2)))
	if code != http.StatusServiceUnavailable {
		t.Errorf("post with the database down: %d, want 503", code)
	}
	// The bridged call goes on without the database: still up once the node has failed
	// twice to renew its lease, when a flow that stopped on a store error would have.
	call := carrier.Calls()[0]
	wait.For(t, 10*time.Second, "two failed lease renewals", func() bool {
		return strings.Count(a.logs(), `msg="renewing leases"`) >= renewals+2
	})
	select {
	case <-call.Done():
		t.Error("call in progress ended when the database went away")
	default:
	}
	c.pg(t, "up")
	var after mnLead
	wait.For(t, 20*time.Second, "leads taken again after the database came back", func() bool {
		code, l := a.post(t, fmt.Sprintf(`{"phone":%q}`, customer(3)))
		after = l
		return code == http.StatusAccepted
	})
	if got := a.waitFinal(t, after.ID, 30*time.Second); got.Status != "completed" {
		t.Errorf("lead after recovery: %s", got.Status)
	}
}
