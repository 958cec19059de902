// Package webhooktest is a webhook receiver for tests: a real HTTP server on loopback
// that answers as a test scripts it, records every request, and verifies every
// signature with npm's standardwebhooks run by node (verify/), an implementation
// independent of Leadline's, so that a mistake shared by Leadline's signing and its own
// checks cannot pass. Tests that need it are skipped when node or npm is missing
// (scripts/deps.sh installs Debian's nodejs and npm).
//
// It imports no Leadline package but dialer (and internal/npmtest, which installs the
// verifier).
package webhooktest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/npmtest"
)

// Verifier checks Standard Webhooks signatures with npm's standardwebhooks: one node
// process for all the checks of a test, reading a line per check.
type Verifier struct {
	mu  sync.Mutex // guards in and out: one check at a time
	in  io.Writer
	out *bufio.Reader
}

// NewVerifier installs the verifier's npm package when it is missing (npm ci, under a
// file lock: several test binaries may ask at once), starts node and stops it when the
// test ends. It skips the test when node or npm is not installed.
func NewVerifier(tb testing.TB) *Verifier {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Skip("node is not installed: the webhook signatures are verified with npm's standardwebhooks (Debian packages nodejs and npm; scripts/deps.sh)")
	}
	dir := verifyDir(tb)
	npmtest.Install(tb, dir, "standardwebhooks", "the webhook signature checks")
	cmd := exec.Command(node, "verify.js")
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the node verifier: %v", err)
	}
	tb.Cleanup(func() {
		in.Close() // node ends at the end of its input
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return &Verifier{in: in, out: bufio.NewReader(out)}
}

// verifyDir is the folder of verify.js and its npm package, next to this file.
func verifyDir(tb testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("webhooktest: cannot find its own source folder")
	}
	return filepath.Join(filepath.Dir(file), "verify")
}

// Verify checks that body and the webhook-id, webhook-timestamp and webhook-signature
// headers in h verify with every one of secrets (and that the timestamp is within 5
// minutes of now).
func (v *Verifier) Verify(secrets []string, h http.Header, body []byte) error {
	headers := map[string]string{}
	for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if vs := h.Values(k); len(vs) == 1 {
			headers[k] = vs[0]
		} else if len(vs) > 1 {
			return fmt.Errorf("header %s sent %d times", k, len(vs))
		}
	}
	line, err := json.Marshal(map[string]any{"secrets": secrets, "headers": headers, "body": base64.StdEncoding.EncodeToString(body)})
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, err := v.in.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("verifier: %w", err)
	}
	answer, err := v.out.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("verifier: %w", err)
	}
	var a struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(answer, &a); err != nil {
		return fmt.Errorf("verifier said %q: %w", answer, err)
	}
	if !a.OK {
		return errors.New(a.Error)
	}
	return nil
}

// Request is one request the receiver got.
type Request struct {
	At        time.Time
	ID        string // webhook-id
	Timestamp string // webhook-timestamp
	Signature string // webhook-signature
	Header    http.Header
	Body      []byte
	// Type and Lead are the body's type and data.id; Status its data.status.
	Type   dialer.EventType
	Lead   string
	Status string
	// Verified is nil when every secret's signature verified.
	Verified error
	// Answered is the status the receiver answered; 0 when it hung until the sender
	// gave up.
	Answered int
}

// Answer is how the receiver answers a request.
type Answer struct {
	Status int
	// Hang keeps the request waiting until the sender gives up (or the test ends).
	Hang bool
	// Delay waits this long before answering (or until the sender gives up).
	Delay  time.Duration
	Header http.Header
	Body   string
}

// Receiver is a webhook endpoint on 127.0.0.1. Its methods are safe for concurrent use.
type Receiver struct {
	URL string

	secrets []string
	v       *Verifier

	started atomic.Int64 // requests that arrived, answered or not

	mu     sync.Mutex // guards the following
	reqs   []Request
	answer func(Request) Answer
}

// NewReceiver starts a receiver that verifies every request with all of secrets
// (through v, or a verifier of its own when v is nil) and answers 204 until Answer says
// otherwise. It stops when the test ends.
func NewReceiver(tb testing.TB, v *Verifier, secrets ...string) *Receiver {
	tb.Helper()
	if v == nil {
		v = NewVerifier(tb)
	}
	r := &Receiver{secrets: secrets, v: v}
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serve(w, req, stop)
	}))
	tb.Cleanup(func() {
		close(stop)
		srv.Close()
	})
	r.URL = srv.URL + "/hooks/leadline"
	return r
}

// Answer makes the receiver answer each request as f says. f is called with the
// receiver's lock held, one request at a time: it must not call the receiver's methods.
func (r *Receiver) Answer(f func(Request) Answer) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request, stop <-chan struct{}) {
	r.started.Add(1)
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	got := Request{
		At: time.Now(), ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"), Header: req.Header.Clone(), Body: body,
	}
	var payload struct {
		Type dialer.EventType `json:"type"`
		Data struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		got.Verified = fmt.Errorf("body is not JSON: %w", err)
	}
	got.Type, got.Lead, got.Status = payload.Type, payload.Data.ID, payload.Data.Status
	if err := r.v.Verify(r.secrets, req.Header, body); err != nil && got.Verified == nil {
		got.Verified = err
	}
	if req.Method != http.MethodPost && got.Verified == nil {
		got.Verified = fmt.Errorf("method %s", req.Method)
	}
	r.mu.Lock()
	a := Answer{Status: http.StatusNoContent}
	if r.answer != nil {
		a = r.answer(got)
	}
	r.mu.Unlock()
	if a.Delay > 0 {
		select {
		case <-time.After(a.Delay):
		case <-req.Context().Done():
		case <-stop:
		}
	}
	if a.Hang {
		select {
		case <-req.Context().Done():
		case <-stop:
		}
	} else {
		for k, vs := range a.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(a.Status)
		_, _ = io.WriteString(w, a.Body)
		got.Answered = a.Status
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, got)
	r.mu.Unlock()
}

// InFlight is the number of requests that arrived and are not answered yet.
func (r *Receiver) InFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.started.Load()) - len(r.reqs)
}

// Requests returns the requests so far, in the order they were answered.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// CheckVerified fails the test for every request whose signature did not verify.
func CheckVerified(tb testing.TB, reqs []Request) {
	tb.Helper()
	for _, q := range reqs {
		if q.Verified != nil {
			tb.Errorf("request %s (%s of lead %s) did not verify: %v", q.ID, q.Type, q.Lead, q.Verified)
		}
	}
}

// Answered returns the first answered request of each webhook-id, in the order they
// were answered: what a receiver that de-duplicates processes.
func Answered(reqs []Request, ok func(Request) bool) []Request {
	seen := map[string]bool{}
	var out []Request
	for _, q := range reqs {
		if !ok(q) || seen[q.ID] {
			continue
		}
		seen[q.ID] = true
		out = append(out, q)
	}
	return out
}

// Delivered reports whether the request was answered 2xx.
func Delivered(q Request) bool { return q.Answered >= 200 && q.Answered < 300 }

// LoopbackResolver is a resolver whose DNS server, on a UDP port of 127.0.0.1 for the
// test, answers every A question with 127.0.0.1 (and any other with nothing): a CRM's
// host name pointed, or re-pointed, at Leadline's own host.
func LoopbackResolver(tb testing.TB) *net.Resolver {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET},
					dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
			}
			if msg, err := b.Finish(); err == nil {
				_, _ = pc.WriteTo(msg, addr)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}
