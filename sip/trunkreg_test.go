package sip_test

import (
	"context"
	"crypto/md5"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/metrics"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// trunkRegObserver is a sip.Observer and sip.TrunkObserver that keeps the registration
// changes and counts the answers to REGISTER.
type trunkRegObserver struct {
	mu     sync.Mutex
	events []string // "trunk:true" or "trunk:false"
	codes  map[int]int
}

var (
	_ sip.TrunkObserver = (*trunkRegObserver)(nil)
	_ sip.TrunkObserver = (*metrics.Metrics)(nil) // the wiring's Observer
)

func (o *trunkRegObserver) TrunkRegistered(trunk string, up bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, fmt.Sprintf("%s:%v", trunk, up))
}

func (o *trunkRegObserver) SIPResponse(method string, code int) {
	if method != "REGISTER" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.codes == nil {
		o.codes = map[int]int{}
	}
	o.codes[code]++
}

func (o *trunkRegObserver) seen() ([]string, map[int]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	codes := map[int]int{}
	for k, v := range o.codes {
		codes[k] = v
	}
	return slices.Clone(o.events), codes
}

func (*trunkRegObserver) CallStarted(string) {}
func (*trunkRegObserver) CallEnded(string)   {}
func (*trunkRegObserver) BridgeStarted()     {}
func (*trunkRegObserver) BridgeEnded()       {}
func (*trunkRegObserver) RTPPacket(string)   {}
func (*trunkRegObserver) RTPDropped(string)  {}

// A registering trunk registers with digest credentials whether the registrar asks
// with 401 (WWW-Authenticate) or 407 (Proxy-Authenticate), refreshes the 10 s it was
// granted before they are up (it never stops being registered), and unregisters its
// binding (Expires: 0) when the user agent closes.
func TestTrunkRegisterDigestRefreshAndGoodbye(t *testing.T) {
	for _, tt := range []struct{ code, answer string }{
		{"401", "Authorization"},
		{"407", "Proxy-Authorization"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			peer := startSipp(t, "trunk_register_"+tt.code+".xml", "u1", nil)
			obs := &trunkRegObserver{}
			u, err := sip.Listen(sip.Config{
				Listen: "127.0.0.1:0", RTPPortMin: 30000, RTPPortMax: 39999, Observer: obs,
				Trunks: []sip.Trunk{{Name: "reg", URI: "sip:" + peer.addr.String(), Username: "leadline", Password: "s3cret", Register: true}},
			})
			if err != nil {
				t.Fatal(err)
			}
			var closeOnce sync.Once
			closeUA := func() { closeOnce.Do(func() { u.Close() }) }
			t.Cleanup(closeUA)

			wait.For(t, 10*time.Second, "the trunk to register", func() bool {
				return u.Trunks()[0].Registered
			})
			wait.For(t, 30*time.Second, "the registration's refresh", func() bool {
				_, codes := obs.seen()
				return codes[200] >= 2
			})
			events, codes := obs.seen()
			if want := []string{"reg:false", "reg:true"}; !slices.Equal(events, want) {
				t.Errorf("registration changes %v, want %v: it lapsed before its refresh", events, want)
			}
			if codes[mustAtoi(t, tt.code)] != 2 {
				t.Errorf("REGISTER answers %v, want two challenges", codes)
			}
			closeUA()
			if events, _ := obs.seen(); events[len(events)-1] != "reg:false" {
				t.Errorf("after Close, registration changes %v", events)
			}
			peer.wait(t, 10*time.Second) // the registrar saw the goodbye, authenticated

			m := peer.messages()
			regs := receivedRequests(m, "REGISTER")
			if len(regs) != 6 {
				t.Fatalf("registrar got %d REGISTERs, want 6:\n%s", len(regs), m)
			}
			for i, r := range regs {
				if (i%2 == 1) != strings.Contains(r, tt.answer+": Digest ") {
					t.Errorf("REGISTER %d: credentials where not asked for, or missing:\n%s", i+1, r)
				}
				if i%2 == 1 && digestCheck(r, tt.answer, "REGISTER", "leadline", "s3cret") != nil {
					t.Errorf("REGISTER %d: %v\n%s", i+1, digestCheck(r, tt.answer, "REGISTER", "leadline", "s3cret"), r)
				}
				wantExpires := "Expires: 3600"
				if i >= 4 {
					wantExpires = "Expires: 0"
				}
				if !strings.Contains(r, "\n"+wantExpires+"\r") && !strings.Contains(r, "\n"+wantExpires+"\n") {
					t.Errorf("REGISTER %d lacks %q:\n%s", i+1, wantExpires, r)
				}
				if !strings.Contains(r, "To: <sip:leadline@127.0.0.1>") || !strings.Contains(r, "Contact: <sip:leadline@127.0.0.1:") {
					t.Errorf("REGISTER %d: address of record or contact:\n%s", i+1, r)
				}
				if callID := header(r, "Call-ID"); callID != header(regs[0], "Call-ID") {
					t.Errorf("REGISTER %d has Call-ID %q, not the first one's", i+1, callID)
				}
			}
		})
	}
}

// A trunk that must register and is not registered (its registrar refuses the
// account) is skipped: the next trunk carries the call and the first never sees an
// INVITE. With no other trunk, the call fails without a trunk to name.
func TestTrunkNotRegisteredIsSkipped(t *testing.T) {
	refusing := startSipp(t, "trunk_register_refuse.xml", "u1", nil)
	second, t2 := carrier(t, "second", simphone.Behaviour{})
	reg := sip.Trunk{Name: "reg", URI: "sip:" + refusing.addr.String(), Username: "leadline", Password: "wrong", Register: true}
	u := newUA(t, sip.Config{Trunks: []sip.Trunk{reg, t2}})
	wait.For(t, 5*time.Second, "the registrar's refusal", func() bool { return u.Trunks()[0].Error != "" })
	st := u.Trunks()
	if !st[0].Registers || st[0].Registered || st[0].Usable() || !strings.Contains(st[0].Error, "403") {
		t.Errorf("refused trunk's state %+v", st[0])
	}
	if st[1].Registers || !st[1].Usable() {
		t.Errorf("second trunk's state %+v", st[1])
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, number, opts(dialer.LegCustomer))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer leg.Hangup(ctx)
	if got := trunkOf(leg, nil); got != "second" || len(second.Calls()) != 1 {
		t.Errorf("carried by %q, second trunk got %d calls", got, len(second.Calls()))
	}

	// sipp takes one call (Call-ID) only: another registrar for another user agent.
	reg.URI = "sip:" + startSipp(t, "trunk_register_refuse.xml", "u1", nil).addr.String()
	alone := newUA(t, sip.Config{Trunks: []sip.Trunk{reg}})
	wait.For(t, 5*time.Second, "the registrar's refusal", func() bool { return alone.Trunks()[0].Error != "" })
	_, err = alone.Dial(ctx, number, opts(dialer.LegCustomer))
	if err == nil || !strings.Contains(err.Error(), "no trunk can carry the call") || trunkOf(nil, err) != "" {
		t.Errorf("Dial with no usable trunk: %v (trunk %q)", err, trunkOf(nil, err))
	}
	if m := refusing.messages(); strings.Contains(m, "INVITE sip:") {
		t.Errorf("the unregistered trunk got an INVITE:\n%s", m)
	}
}

// receivedRequests splits a sipp message trace into the requests of method it received.
func receivedRequests(trace, method string) []string {
	var out []string
	for _, block := range strings.Split(trace, "message received") {
		if i := strings.Index(block, method+" sip:"); i >= 0 {
			out = append(out, block[i:])
		}
	}
	return out
}

// header is the value of a header in a message's text, or "".
func header(msg, name string) string {
	for _, line := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), name+": "); ok {
			return v
		}
	}
	return ""
}

// digestCheck recomputes the digest response (RFC 2617 section 3.2.2, MD5, qop auth or
// none) of the named header in a request's text.
func digestCheck(msg, name, method, user, password string) error {
	v, ok := strings.CutPrefix(header(msg, name), "Digest ")
	if !ok {
		return fmt.Errorf("no %s header", name)
	}
	md5hex := func(s string) string { return fmt.Sprintf("%x", md5.Sum([]byte(s))) }
	p := map[string]string{}
	for kv := range strings.SplitSeq(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		p[k] = strings.Trim(strings.TrimSpace(val), `"`)
	}
	ha1 := md5hex(user + ":" + p["realm"] + ":" + password)
	ha2 := md5hex(method + ":" + p["uri"])
	want := md5hex(ha1 + ":" + p["nonce"] + ":" + ha2)
	if p["qop"] == "auth" {
		want = md5hex(ha1 + ":" + p["nonce"] + ":" + p["nc"] + ":" + p["cnonce"] + ":auth:" + ha2)
	}
	if p["username"] != user || p["response"] != want {
		return fmt.Errorf("digest for %q does not verify", p["username"])
	}
	return nil
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}
