package sip_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

const number = "+31612345678"

// trunkOf is the trunk a leg or an error from Dial names (dialer.Trunked), or "".
func trunkOf(leg dialer.Leg, err error) string {
	if t, ok := leg.(dialer.Trunked); ok {
		return t.Trunk()
	}
	var t dialer.Trunked
	if errors.As(err, &t) {
		return t.Trunk()
	}
	return ""
}

func carrier(t *testing.T, name string, b simphone.Behaviour) (*simphone.Phone, sip.Trunk) {
	t.Helper()
	p := newPhone(t, name, b)
	return p, sip.Trunk{Name: name, URI: "sip:" + p.Addr().String()}
}

// A number goes to the first trunk; a 503 (or 500, 408) there leaves it for the next,
// which carries it, and the leg says so. Other final answers end the call at the trunk
// that gave them.
func TestTrunkFailover(t *testing.T) {
	for _, tt := range []struct {
		code      int
		secondGot int    // calls the second trunk receives
		carried   string // the trunk the leg or error names
	}{
		{503, 1, "second"},
		{500, 1, "second"},
		{408, 1, "second"},
		{486, 0, "first"},
		{404, 0, "first"},
		{603, 0, "first"},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			first, t1 := carrier(t, "first", simphone.Behaviour{Code: tt.code})
			second, t2 := carrier(t, "second", simphone.Behaviour{Tone: 800})
			u := newUA(t, sip.Config{Trunks: []sip.Trunk{t1, t2}})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			o := opts(dialer.LegCustomer)
			o.CallID = "failover-call"
			leg, err := u.Dial(ctx, number, o)
			if got := trunkOf(leg, err); got != tt.carried {
				t.Errorf("Dial = %v, %v: trunk %q, want %q", leg, err, got, tt.carried)
			}
			if tt.secondGot == 0 {
				var coded interface{ SIPCode() int }
				if leg != nil || !errors.As(err, &coded) || coded.SIPCode() != tt.code {
					t.Fatalf("Dial = %v, %v; want the first trunk's %d", leg, err, tt.code)
				}
			} else if err != nil {
				t.Fatalf("Dial: %v", err)
			} else {
				defer leg.Hangup(ctx)
			}
			if n := len(first.Calls()); n != 1 {
				t.Errorf("first trunk got %d INVITEs, want 1", n)
			}
			if n := len(second.Calls()); n != tt.secondGot {
				t.Errorf("second trunk got %d INVITEs, want %d", n, tt.secondGot)
			}
			if tt.secondGot == 1 {
				c1, c2 := first.Calls()[0], second.Calls()[0]
				if c1.Invite.Recipient.User != number || c2.Invite.Recipient.User != number {
					t.Errorf("Request-URIs %s and %s", &c1.Invite.Recipient, &c2.Invite.Recipient)
				}
				if id1, id2 := c1.Header("Call-ID"), c2.Header("Call-ID"); id1 != "failover-call" || id2 != "failover-call-2" {
					t.Errorf("Call-IDs %q and %q, want the dialer's and a second one", id1, id2)
				}
			}
		})
	}
}

// A trunk that does not respond at all is left after a few seconds for the next one; its
// INVITE is not left ringing.
func TestTrunkFailoverOnSilence(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	got := make(chan string, 16)
	go func() { // ends when silent is closed
		buf := make([]byte, 4096)
		for {
			n, _, err := silent.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- strings.SplitN(string(buf[:n]), "\r\n", 2)[0]
		}
	}()
	second, t2 := carrier(t, "second", simphone.Behaviour{})
	u := newUA(t, sip.Config{Trunks: []sip.Trunk{{Name: "silent", URI: "sip:" + silent.LocalAddr().String()}, t2}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, number, opts(dialer.LegCustomer))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer leg.Hangup(ctx)
	if trunkOf(leg, nil) != "second" || len(second.Calls()) != 1 {
		t.Errorf("carried by %q; second trunk got %d calls", trunkOf(leg, nil), len(second.Calls()))
	}
	select {
	case line := <-got:
		if !strings.HasPrefix(line, "INVITE sip:"+number+"@") {
			t.Errorf("silent trunk got %q", line)
		}
	default:
		t.Error("the silent trunk got no INVITE")
	}
}

// The outbound proxy gets every request for the trunk, with the trunk in the
// Request-URI and itself as a loose route.
func TestTrunkOutboundProxy(t *testing.T) {
	proxy := newPhone(t, "proxy", simphone.Behaviour{})
	u := newUA(t, sip.Config{Trunks: []sip.Trunk{{
		Name: "behind", URI: "sip:carrier.invalid", OutboundProxy: "sip:" + proxy.Addr().String(),
	}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, number, opts(dialer.LegCustomer))
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Hangup(ctx)
	c := proxy.Calls()[0]
	if ruri := c.Invite.Recipient.String(); ruri != "sip:"+number+"@carrier.invalid" {
		t.Errorf("Request-URI %s", ruri)
	}
	if route, want := c.Header("Route"), "<sip:"+proxy.Addr().String()+";lr>"; route != want {
		t.Errorf("Route %q, want %q", route, want)
	}
}

// What the carrier sees of the caller id: From always; P-Asserted-Identity or
// P-Preferred-Identity as the trunk asks (RFC 3325), with the same escaped display name;
// Privacy as the dealer asks, From anonymous when an identity header carries the number.
func TestTrunkCallerIDHeaders(t *testing.T) {
	const display = `"Lead Eva \"E\" Jansen"`
	for _, tt := range []struct {
		header, privacy   string
		wantFrom          string // display name and URI, up to the tag
		wantPAI, wantPPI  string
		wantPrivacyHeader string
	}{
		{"from", "", display + " <sip:+31201234567@127.0.0.1>", "", "", ""},
		{"pai", "", display + " <sip:+31201234567@127.0.0.1>", display + " <sip:+31201234567@127.0.0.1>", "", ""},
		{"ppi", "", display + " <sip:+31201234567@127.0.0.1>", "", display + " <sip:+31201234567@127.0.0.1>", ""},
		{"pai", "id", `"Anonymous" <sip:anonymous@anonymous.invalid>`, display + " <sip:+31201234567@127.0.0.1>", "", "id"},
		{"ppi", "id", `"Anonymous" <sip:anonymous@anonymous.invalid>`, "", display + " <sip:+31201234567@127.0.0.1>", "id"},
		{"from", "id", display + " <sip:+31201234567@127.0.0.1>", "", "", "id"},
		{"pai", "none", display + " <sip:+31201234567@127.0.0.1>", display + " <sip:+31201234567@127.0.0.1>", "", "none"},
	} {
		t.Run(tt.header+"/"+tt.privacy, func(t *testing.T) {
			p, tr := carrier(t, "carrier", simphone.Behaviour{Code: 486})
			tr.CallerIDHeader = tt.header
			u := newUA(t, sip.Config{Trunks: []sip.Trunk{tr}})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			o := opts(dialer.LegCustomer)
			o.DisplayName, o.Privacy = `Lead Eva "E" Jansen`, tt.privacy
			if _, err := u.Dial(ctx, number, o); !errors.Is(err, dialer.ErrBusy) {
				t.Fatalf("Dial: %v", err)
			}
			c := p.Calls()[0]
			if from := c.Header("From"); !strings.HasPrefix(from, tt.wantFrom+";tag=") {
				t.Errorf("From %q, want %q;tag=…", from, tt.wantFrom)
			}
			for name, want := range map[string]string{"P-Asserted-Identity": tt.wantPAI, "P-Preferred-Identity": tt.wantPPI, "Privacy": tt.wantPrivacyHeader} {
				if got := c.Header(name); got != want {
					t.Errorf("%s %q, want %q", name, got, want)
				}
			}
		})
	}
	// A phone dialled by its SIP URI is no trunk: no identity header, whatever the
	// trunks assert.
	p := newPhone(t, "piet", simphone.Behaviour{Code: 486})
	u := newUA(t, sip.Config{Trunks: []sip.Trunk{{URI: "sip:127.0.0.1:9", CallerIDHeader: "pai"}}})
	if _, err := u.Dial(context.Background(), p.URI(), opts(dialer.LegAgent)); !errors.Is(err, dialer.ErrBusy) {
		t.Fatal(err)
	}
	if h := p.Calls()[0].Header("P-Asserted-Identity"); h != "" {
		t.Errorf("a phone got P-Asserted-Identity %q", h)
	}
}

// A trunk over TLS: the carrier's certificate is verified (here against a test CA named
// by Config.TLS.CA; in production the system's roots too) and the INVITE crosses the TLS
// connection, its Via and Contact naming our TLS listener. A carrier whose certificate
// is not trusted gets nothing, and the next trunk takes the call.
func TestTrunkOverTLS(t *testing.T) {
	ca := testCA(t)
	_, _, peerCert, err := ca.Issue("carrier.test")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, _, err := ca.Issue("leadline.test")
	if err != nil {
		t.Fatal(err)
	}
	peer := startTLSCarrier(t, peerCert)
	tlsTrunk := sip.Trunk{Name: "tls", URI: "sip:" + peer.addr, Transport: "tls"}

	u := newUA(t, sip.Config{Trunks: []sip.Trunk{tlsTrunk}, TLS: sip.TLSConfig{Listen: "127.0.0.1:0", Cert: cert, Key: key, CA: ca.File}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = u.Dial(ctx, number, opts(dialer.LegCustomer))
	var coded interface{ SIPCode() int }
	if !errors.As(err, &coded) || coded.SIPCode() != 486 || trunkOf(nil, err) != "tls" {
		t.Fatalf("Dial: %v; want the TLS carrier's 486", err)
	}
	invites := peer.invites()
	if len(invites) != 1 {
		t.Fatalf("TLS carrier got %d INVITEs", len(invites))
	}
	port := int(u.TLSAddr().Port())
	if via := invites[0].Via(); via == nil || via.Transport != "TLS" || via.Port != port {
		t.Errorf("Via %v, want SIP/2.0/TLS with our TLS port %d", via, port)
	}
	if ct := invites[0].Contact(); ct == nil || ct.Address.Port != port || !strings.Contains(ct.Address.String(), "transport=tls") {
		t.Errorf("Contact %v, want our TLS port %d and transport=tls", ct, port)
	}

	// The system's roots do not know the test CA: the handshake fails, nothing is sent,
	// and the next trunk carries the call.
	backup, t2 := carrier(t, "backup", simphone.Behaviour{})
	u2 := newUA(t, sip.Config{Trunks: []sip.Trunk{tlsTrunk, t2}})
	leg, err := u2.Dial(ctx, number, opts(dialer.LegCustomer))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer leg.Hangup(ctx)
	if trunkOf(leg, nil) != "backup" || len(backup.Calls()) != 1 {
		t.Errorf("carried by %q", trunkOf(leg, nil))
	}
	if n := len(peer.invites()); n != 1 {
		t.Errorf("untrusted TLS carrier got %d more INVITEs", n-1)
	}
	_, err = newUA(t, sip.Config{Trunks: []sip.Trunk{tlsTrunk}}).Dial(ctx, number, opts(dialer.LegCustomer))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Dial to an untrusted carrier: %v; want a certificate error", err)
	}
	// Nor does another CA's file.
	other := testCA(t)
	_, err = newUA(t, sip.Config{Trunks: []sip.Trunk{tlsTrunk}, TLS: sip.TLSConfig{CA: other.File}}).Dial(ctx, number, opts(dialer.LegCustomer))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Dial to a carrier of another CA: %v; want a certificate error", err)
	}
}

// tlsCarrier is a SIP server on TLS that refuses every INVITE with 486.
type tlsCarrier struct {
	addr string
	mu   sync.Mutex
	got  []*sipgosip.Request
}

func (c *tlsCarrier) invites() []*sipgosip.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*sipgosip.Request(nil), c.got...)
}

func startTLSCarrier(t *testing.T, cert tls.Certificate) *tlsCarrier {
	t.Helper()
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	c := &tlsCarrier{addr: ln.Addr().String()}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tls-carrier"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnInvite(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		c.mu.Lock()
		c.got = append(c.got, req.Clone())
		c.mu.Unlock()
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	})
	srv.OnAck(func(*sipgosip.Request, sipgosip.ServerTransaction) {})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeTLS(ln) }()
	t.Cleanup(func() {
		ln.Close()
		_ = ua.Close()
		<-done
	})
	return c
}

// testCA makes a CA whose files are in a temporary folder.
func testCA(t *testing.T) *simphone.CA {
	t.Helper()
	ca, err := simphone.NewCA(t.TempDir(), "Leadline test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}
