package sip_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// requests returns the method and source of every request a phone received, raw.
func requests(p *simphone.Phone) (methods []string, pkts []simphone.Packet) {
	for _, pk := range p.Received() {
		line, _, _ := bytes.Cut(pk.Data, []byte("\r\n"))
		if bytes.HasPrefix(line, []byte("SIP/2.0")) {
			continue
		}
		m, _, _ := bytes.Cut(line, []byte(" "))
		methods = append(methods, string(m))
		pkts = append(pkts, pk)
	}
	return methods, pkts
}

// Every request (INVITE, ACK, BYE and CANCEL) leaves from the listening socket, so Via
// and Contact agree with the packets' source (NOTES: sipgo pitfall 4).
func TestRequestsLeaveFromListeningPort(t *testing.T) {
	u := newUA(t, sip.Config{})
	answers := newPhone(t, "anna", simphone.Behaviour{Ring: 50 * time.Millisecond})
	rings := newPhone(t, "kees", simphone.Behaviour{Never: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, answers.URI(), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	leg.Hangup(ctx)
	ringCtx, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if _, err := u.Dial(ringCtx, rings.URI(), opts(dialer.LegAgent)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial: %v", err)
	}
	wait.For(t, 5*time.Second, "CANCEL at the phone", func() bool {
		m, _ := requests(rings)
		return strings.Contains(strings.Join(m, " "), "CANCEL")
	})
	for _, p := range []*simphone.Phone{answers, rings} {
		methods, pkts := requests(p)
		for i, pk := range pkts {
			if pk.From != u.Addr() {
				t.Errorf("%s to %s came from %v, want the listening socket %v", methods[i], p.Name, pk.From, u.Addr())
			}
		}
		t.Logf("%s received %v", p.Name, methods)
	}
	if m, _ := requests(answers); strings.Join(m, " ") != "INVITE ACK BYE" {
		t.Errorf("answering phone received %v", m)
	}
}

// Lead fields with CR/LF, quotes, backslashes and angle brackets stay inside the From
// display name (escaped) or are dropped from the URI user part and X-Leadline-Lead: the
// raw INVITE has exactly the headers Leadline meant to send.
func TestLeadFieldsNeverBecomeHeaders(t *testing.T) {
	u := newUA(t, sip.Config{})
	p := newPhone(t, "anna", simphone.Behaviour{Code: 486})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o := dialer.DialOpts{
		LeadID:      "lead\r\nX-Evil: 1",
		Kind:        dialer.LegAgent,
		CallerID:    "+3120\r\nX-Evil: 2 <sip:evil@example.com>",
		DisplayName: "Lead Eva \"the\" \\ <sip:x@y>\r\nX-Evil: 3\nVia: SIP/2.0/UDP evil\r\n\r\nv=0",
	}
	if _, err := u.Dial(ctx, p.URI(), o); !errors.Is(err, dialer.ErrBusy) {
		t.Fatalf("dial: %v", err)
	}
	_, pkts := requests(p)
	if len(pkts) == 0 {
		t.Fatal("no INVITE")
	}
	raw := pkts[0].Data
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Scan() // request line
	for sc.Scan() {
		name, _, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.ContainsAny(name, " \t") {
			t.Errorf("malformed header line %q", sc.Text())
		}
		names = append(names, name)
	}
	want := "Via Max-Forwards From To Call-ID CSeq Contact Allow Supported X-Leadline-Lead Content-Type Content-Length"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("INVITE headers\n%s\nwant\n%s\nraw:\n%s", got, want, raw)
	}
	// Quotes and backslashes escaped, controls made spaces, cut at 64 characters.
	if !bytes.Contains(raw, []byte("\r\nFrom: \"Lead Eva \\\"the\\\" \\\\ <sip:x@y>  X-Evil: 3 Via: SIP/2.0/UDP evil    v\" <sip:+3120X-Evil2sipevilexample.com@")) {
		t.Errorf("From not escaped as expected:\n%s", raw)
	}
	call := p.Calls()[0]
	if got := call.Header("X-Leadline-Lead"); got != "leadX-Evil1" {
		t.Errorf("X-Leadline-Lead %q", got)
	}
	if from := call.Invite.From(); from.Address.User != "+3120X-Evil2sipevilexample.com" || from.Address.Host != "127.0.0.1" {
		t.Errorf("From parsed as %q <%s>", from.DisplayName, from.Address.String())
	}
}

// newClient is a sipgo client whose requests all leave from one socket that lives until
// the test ends (a client left to create its own sockets can leak their read loops).
func newClient(t *testing.T) *sipgo.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua)
	c, err := sipgo.NewClient(ua, sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ServeUDP(conn) }()
	for range 1000 {
		if cc, _ := ua.TransportLayer().GetConnection("udp", conn.LocalAddr().String()); cc != nil {
			break
		}
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() {
		ua.Close()
		conn.Close()
		<-served
	})
	return c
}

// In-dialog requests for dialogs Leadline does not have get 481 (RFC 3261 section
// 12.2.2), a CANCEL for no transaction 481 (section 9.2), an ACK nothing; none creates a
// call.
func TestUnknownDialog481(t *testing.T) {
	u := newUA(t, sip.Config{})
	c := newClient(t)
	target := sipgosip.Uri{Scheme: "sip", User: "leadline", Host: "127.0.0.1", Port: int(u.Addr().Port())}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, method := range []sipgosip.RequestMethod{sipgosip.INVITE, sipgosip.UPDATE, sipgosip.BYE, sipgosip.INFO, sipgosip.CANCEL} {
		req := sipgosip.NewRequest(method, target)
		to := &sipgosip.ToHeader{Address: target, Params: sipgosip.NewParams()}
		to.Params.Add("tag", "notours")
		req.AppendHeader(to)
		req.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}})
		res, err := c.Do(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if res.StatusCode != 481 {
			t.Errorf("%s answered %d, want 481", method, res.StatusCode)
		}
	}
	ack := sipgosip.NewRequest(sipgosip.ACK, target)
	if err := c.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	if u.ActiveCalls() != 0 {
		t.Error("a request created a call")
	}
}
