package sip_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

const (
	sannePass = "sanne-pw-0123456789"
	keesPass  = "kees-pw-0123456789"
)

// memBindings is a sip.BindingStore in memory.
type memBindings struct {
	mu sync.Mutex
	m  map[[2]string]dialer.Binding // user, key
}

func (s *memBindings) PutBinding(_ context.Context, b dialer.Binding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[2]string]dialer.Binding{}
	}
	k := [2]string{b.User, b.Key}
	if old, ok := s.m[k]; ok {
		b.ID = old.ID
	}
	s.m[k] = b
	return nil
}

func (s *memBindings) list(keep func(dialer.Binding) bool) []dialer.Binding {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []dialer.Binding
	for _, b := range s.m {
		if keep(b) {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b dialer.Binding) int { return a.Updated.Compare(b.Updated) })
	return out
}

func (s *memBindings) Bindings(_ context.Context, user string, now time.Time) ([]dialer.Binding, error) {
	return s.list(func(b dialer.Binding) bool { return b.User == user && b.Expires.After(now) }), nil
}

func (s *memBindings) NodeBindings(_ context.Context, node string, now time.Time) ([]dialer.Binding, error) {
	return s.list(func(b dialer.Binding) bool { return b.Node == node && b.Expires.After(now) }), nil
}

func (s *memBindings) DeleteBinding(_ context.Context, user, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, [2]string{user, key})
	return nil
}

func (s *memBindings) DeleteBindings(_ context.Context, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.m {
		if k[0] == user {
			delete(s.m, k)
		}
	}
	return nil
}

func (s *memBindings) PurgeBindings(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, b := range s.m {
		if !b.Expires.After(before) {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

// regObserver records what the registrar reports.
type regObserver struct {
	mu       sync.Mutex
	failures map[string]int
	lockouts map[string]int
	gauge    map[string]int
}

func (o *regObserver) Registrations(m map[string]int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gauge = m
}

func (o *regObserver) RegisterFailure(r string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failures == nil {
		o.failures = map[string]int{}
	}
	o.failures[r]++
}

func (o *regObserver) RegisterLockout(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.lockouts == nil {
		o.lockouts = map[string]int{}
	}
	o.lockouts[s]++
}

func (o *regObserver) count(m *map[string]int, k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return (*m)[k]
}

// clock is a settable clock: the wall clock plus an offset.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

type regEnv struct {
	ua    *sip.UA
	reg   *sip.Registrar
	store *memBindings
	obs   *regObserver
	clock *clock
}

func newRegistrar(t *testing.T, lim sip.Lockout) *regEnv {
	t.Helper()
	e := &regEnv{ua: newUA(t, sip.Config{}), store: &memBindings{}, obs: &regObserver{}, clock: &clock{}}
	e.reg = sip.NewRegistrar(e.ua, sip.RegistrarConfig{Store: e.store, Node: "node-a", Observer: e.obs, Lockout: lim, Now: e.clock.now})
	t.Cleanup(e.reg.Close)
	e.reg.SetAccounts([]sip.Account{
		{User: "sanne", Password: sannePass, Dealer: "jansen", Person: "sanne"},
		{User: "kees", Password: keesPass, Dealer: "jansen", Person: "kees"},
	})
	return e
}

// phoneAt starts a phone listening on ip (a loopback address).
func phoneAt(t *testing.T, name, ip string, b simphone.Behaviour) *simphone.Phone {
	t.Helper()
	p, err := simphone.NewPhoneAt(name, ip+":0", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

var nonceRE = regexp.MustCompile(`nonce="[^"]*"`)

// answer reduces a response to what must not depend on the user: status, reason and
// the headers that do not echo the request, nonces masked (each challenge has its own).
func answer(res *sipgosip.Response) string {
	var hdrs []string
	for _, h := range res.Headers() {
		switch strings.ToLower(h.Name()) {
		case "via", "from", "to", "call-id", "cseq", "content-length":
			continue
		}
		hdrs = append(hdrs, h.Name()+": "+nonceRE.ReplaceAllString(h.Value(), `nonce="…"`))
	}
	slices.Sort(hdrs)
	return fmt.Sprintf("%d %s %q", res.StatusCode, res.Reason, hdrs)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestRegisterNoEnumeration: a known and an unknown user get the same challenge, and
// a wrong password the same refusal as an unknown user; the right password registers.
func TestRegisterNoEnumeration(t *testing.T) {
	e := newRegistrar(t, sip.Lockout{})
	p := newPhone(t, "laptop", simphone.Behaviour{})
	at := e.ua.Addr()

	challenges := map[string][]string{}
	for _, user := range []string{"sanne", "Sanne", "nobody", "kees", "admin"} {
		res, err := p.RegisterRaw(ctx(t), at, user, 300)
		if err != nil {
			t.Fatal(err)
		}
		challenges[answer(res)] = append(challenges[answer(res)], user)
		if res.StatusCode != 401 || len(res.GetHeaders("WWW-Authenticate")) != 1 {
			t.Errorf("%s: %d with %d challenges, want 401 with one", user, res.StatusCode, len(res.GetHeaders("WWW-Authenticate")))
		}
	}
	if len(challenges) != 1 {
		t.Errorf("challenges differ by user: %q", challenges)
	}
	refusals := map[string][]string{}
	for _, try := range [][2]string{{"sanne", "wrong-password-1"}, {"nobody", "wrong-password-1"}, {"nobody", sannePass}, {"kees", sannePass}} {
		res, err := p.Register(ctx(t), at, try[0], try[1], 300)
		if err != nil {
			t.Fatal(err)
		}
		refusals[answer(res)] = append(refusals[answer(res)], try[0])
		if res.StatusCode != 403 {
			t.Errorf("%s with a wrong password: %d, want 403", try[0], res.StatusCode)
		}
	}
	if len(refusals) != 1 {
		t.Errorf("refusals differ by user: %q", refusals)
	}
	if n := e.obs.count(&e.obs.failures, sip.RegisterFailureCredentials); n != 4 {
		t.Errorf("%d credential failures counted, want 4", n)
	}

	res, err := p.Register(ctx(t), at, "sanne", sannePass, 600)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("right password: %v %v", res, err)
	}
	ct := res.GetHeader("Contact")
	if ct == nil || !strings.Contains(ct.Value(), "sip:laptop@127.0.0.1:") || !strings.Contains(ct.Value(), "expires=600") {
		t.Errorf("200 Contact %v, want the phone's with expires=600 (direct: its own address)", ct)
	}
	devs, err := e.reg.Devices(ctx(t), "jansen", "sanne")
	if err != nil || len(devs) != 1 || devs[0].Target != "sip:laptop@"+p.Addr().String() || devs[0].Route != "udp:"+p.Addr().String() {
		t.Fatalf("Devices = %+v, %v", devs, err)
	}
	// Unregistering (Expires: 0) removes the device.
	if res, err := p.Register(ctx(t), at, "sanne", sannePass, 0); err != nil || res.StatusCode != 200 {
		t.Fatalf("unregister: %v %v", res, err)
	}
	if devs, _ := e.reg.Devices(ctx(t), "jansen", "sanne"); len(devs) != 0 {
		t.Errorf("after unregistering: %+v", devs)
	}
}

// TestRegisterLockout: after UserLimit bad passwords for a user, even the right
// password is refused, with the answer any bad password gets, for the lockout's
// Duration, from any source but one of the user's own registered phones; after
// SourceLimit failures from one source, every REGISTER from it is.
func TestRegisterLockout(t *testing.T) {
	e := newRegistrar(t, sip.Lockout{UserLimit: 3, SourceLimit: 6, Window: time.Minute, Duration: 2 * time.Minute})
	at := e.ua.Addr()
	home := phoneAt(t, "home", "127.0.0.1", simphone.Behaviour{})
	guesser := phoneAt(t, "guesser", "127.0.0.2", simphone.Behaviour{})
	other := phoneAt(t, "other", "127.0.0.3", simphone.Behaviour{})
	if res, err := home.Register(ctx(t), at, "sanne", sannePass, 300); err != nil || res.StatusCode != 200 {
		t.Fatalf("home phone: %v %v", res, err)
	}
	var unknown string
	for range 3 {
		res, err := guesser.Register(ctx(t), at, "sanne", "guess-0123456789", 300)
		if err != nil {
			t.Fatal(err)
		}
		unknown = answer(res)
	}
	if n := e.obs.count(&e.obs.lockouts, "user"); n != 1 {
		t.Fatalf("%d user lockouts, want 1", n)
	}
	for _, p := range []*simphone.Phone{guesser, other} {
		res, err := p.Register(ctx(t), at, "sanne", sannePass, 300)
		if err != nil {
			t.Fatal(err)
		}
		if answer(res) != unknown || res.StatusCode != 403 {
			t.Errorf("%s, locked out, right password: %s; want what a bad password gets: %s", p.Name, answer(res), unknown)
		}
	}
	if n := e.obs.count(&e.obs.failures, sip.RegisterFailureLocked); n != 2 {
		t.Errorf("%d refused while locked, want 2", n)
	}
	// The salesperson's own phone keeps refreshing meanwhile.
	if res, err := home.Register(ctx(t), at, "sanne", sannePass, 300); err != nil || res.StatusCode != 200 {
		t.Errorf("home phone during the lockout: %v %v", res, err)
	}
	// kees is not locked out.
	if res, err := other.Register(ctx(t), at, "kees", keesPass, 300); err != nil || res.StatusCode != 200 {
		t.Errorf("kees during sanne's lockout: %v %v", res, err)
	}
	e.clock.advance(2*time.Minute + time.Second)
	if res, err := other.Register(ctx(t), at, "sanne", sannePass, 300); err != nil || res.StatusCode != 200 {
		t.Errorf("after the lockout: %v %v", res, err)
	}

	// Six failures from one source with made-up users (their window began anew) lock
	// the source, and then nothing from it is checked.
	for i := range 6 {
		if _, err := guesser.Register(ctx(t), at, fmt.Sprintf("user%d", i), "guess-0123456789", 300); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.obs.count(&e.obs.lockouts, "source"); n != 1 {
		t.Fatalf("%d source lockouts, want 1", n)
	}
	if res, err := guesser.Register(ctx(t), at, "kees", keesPass, 300); err != nil || answer(res) != unknown {
		t.Errorf("locked-out source, right password: %v %v", res, err)
	}
	if res, err := other.Register(ctx(t), at, "kees", keesPass, 300); err != nil || res.StatusCode != 200 {
		t.Errorf("another source meanwhile: %v %v", res, err)
	}
}

// TestRegisteredDeviceBehindNAT: a phone whose Contact, Via and SDP name an address
// inside its network, but whose packets come from its NAT's, is reached at the NAT's
// address (INVITE, ACK, BYE) and its media goes there too, bridged both ways with
// another leg; a stranger's RTP to its leg is dropped and gets nothing back.
//
// The phone's "private" address is 127.0.0.5, where traps listen: a private range
// address (10.0.0.5) would be just as private to Leadline, but this machine must not
// send a packet to one, should the feature break. fixNAT treats both alike
// (TestFixNAT).
func TestRegisteredDeviceBehindNAT(t *testing.T) {
	e := newRegistrar(t, sip.Lockout{})
	// The phone says nothing for its first second: what it hears meanwhile can only
	// have been sent to its NAT's address before any latch.
	nated := phoneAt(t, "sanne", "127.0.0.7", simphone.Behaviour{Ring: 500 * time.Millisecond, Tone: 700, Quiet: time.Second})
	private := netip.MustParseAddr("127.0.0.5")
	nated.BehindNAT(private)
	sipTrap := trap(t, netip.AddrPortFrom(private, nated.Addr().Port()))
	res, err := nated.Register(ctx(t), e.ua.Addr(), "sanne", sannePass, 3600)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("register: %v %v", res, err)
	}
	if ct := res.GetHeader("Contact"); ct == nil || !strings.Contains(ct.Value(), "@127.0.0.5:") || !strings.Contains(ct.Value(), "expires=300") {
		t.Errorf("200 Contact %v: want the phone's private Contact, granted at most 300 s behind NAT", ct)
	}
	devs, err := e.reg.Devices(ctx(t), "jansen", "sanne")
	if err != nil || len(devs) != 1 {
		t.Fatalf("Devices = %+v, %v", devs, err)
	}
	if d := devs[0]; !strings.Contains(d.Target, "@127.0.0.5:") || d.Route != "udp:"+nated.Addr().String() {
		t.Fatalf("device %+v: want the private Contact as target, routed to %s", d, nated.Addr())
	}
	customer := newPhone(t, "customer", simphone.Behaviour{Ring: 100 * time.Millisecond, Tone: 1200})

	// While the phone rings, a trap takes the port its SDP names at the private address.
	var rtpTrap *trapped
	ringing := make(chan struct{})
	go func() {
		defer close(ringing)
		for range 500 {
			if calls := nated.Calls(); len(calls) > 0 {
				rtpTrap = trap(t, netip.AddrPortFrom(private, calls[0].MediaAddr().Port()))
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	o := opts(dialer.LegAgent)
	o.Route = devs[0].Route
	agent, err := e.ua.Dial(ctx(t), devs[0].Target, o)
	<-ringing
	if err != nil {
		t.Fatalf("dial the device: %v", err)
	}
	if rtpTrap == nil {
		t.Fatal("the phone got no INVITE")
	}
	if err := agent.Play(ctx(t), tone(500, 400*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if h := nated.Calls()[0].Heard(); simphone.Level(h, 500) < 0.5 {
		t.Fatalf("the phone behind NAT did not hear what was played before it sent anything (%d samples)", len(h))
	}
	cust, err := e.ua.Dial(ctx(t), customer.URI(), opts(dialer.LegCustomer))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Bridge(cust); err != nil {
		t.Fatal(err)
	}
	agentCall, custCall := nated.Calls()[0], customer.Calls()[0]
	if v := agentCall.Invite.Via(); v == nil || !v.Params.Has("rport") {
		t.Errorf("the INVITE's Via %v asks for no rport", v)
	}
	// A stranger sends RTP (a tone of its own) to the agent leg's port from another
	// address, all through the call.
	legPort := sdpPort(t, agentCall.Invite.Body())
	stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	stop := make(chan struct{})
	var sent sync.WaitGroup
	sent.Go(func() {
		strangerRTP(stranger, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(legPort)), stop)
	})
	wait.For(t, 5*time.Second, "audio both ways", func() bool {
		return len(agentCall.Heard()) > 8000 && len(custCall.Heard()) > 8000
	})
	close(stop)
	sent.Wait()
	heardByAgent, heardByCust := agentCall.Heard(), custCall.Heard()
	if l := simphone.Level(heardByAgent[len(heardByAgent)-4000:], 1200); l < 0.5 {
		t.Errorf("the device behind NAT hears the customer's tone at %.2f", l)
	}
	if l := simphone.Level(heardByCust[len(heardByCust)-4000:], 700); l < 0.5 {
		t.Errorf("the customer hears the device's tone at %.2f", l)
	}
	if l := simphone.Level(heardByCust[len(heardByCust)-4000:], 1900); l > 0.01 {
		t.Errorf("the stranger's tone reached the customer (%.2f)", l)
	}
	_ = stranger.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := stranger.ReadFrom(make([]byte, 1500)); err == nil {
		t.Errorf("the stranger received %d bytes of the call", n)
	}
	_ = agent.Hangup(ctx(t))
	_ = cust.Hangup(ctx(t))
	select {
	case <-agentCall.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the BYE did not reach the device behind NAT")
	}
	if n := sipTrap.count() + rtpTrap.count(); n != 0 {
		t.Errorf("%d packets went to the phone's private address", n)
	}
}

// trapped counts the datagrams a socket receives.
type trapped struct {
	conn *net.UDPConn
	n    atomic.Int64
}

func (tr *trapped) count() int64 { return tr.n.Load() }

// trap listens at a and counts what arrives until the test ends.
func trap(t *testing.T, a netip.AddrPort) *trapped {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
	if err != nil {
		t.Fatalf("trap at %s: %v", a, err)
	}
	tr := &trapped{conn: c}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
			tr.n.Add(1)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return tr
}

// TestInviteFromRegisteredPhone: Leadline takes no calls, from a registered phone
// neither.
func TestInviteFromRegisteredPhone(t *testing.T) {
	e := newRegistrar(t, sip.Lockout{})
	p := newPhone(t, "sanne", simphone.Behaviour{})
	if res, err := p.Register(ctx(t), e.ua.Addr(), "sanne", sannePass, 300); err != nil || res.StatusCode != 200 {
		t.Fatalf("register: %v %v", res, err)
	}
	for _, user := range []string{"+31612345678", "sanne", "leadline"} {
		res, err := p.Invite(ctx(t), e.ua.Addr(), user)
		if err != nil || res.StatusCode != 403 {
			t.Errorf("INVITE to %s from a registered phone: %v %v; want 403", user, res, err)
		}
	}
	if n := e.ua.ActiveCalls(); n != 0 {
		t.Errorf("%d calls", n)
	}
}

func sdpPort(t *testing.T, body []byte) int {
	t.Helper()
	var port int
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "m=audio ") {
			_, _ = fmt.Sscanf(line, "m=audio %d", &port)
		}
	}
	if port == 0 {
		t.Fatalf("no audio port in %s", body)
	}
	return port
}

// strangerRTP sends PCMU packets of a 1900 Hz tone to to every 20 ms until stop.
func strangerRTP(c *net.UDPConn, to netip.AddrPort, stop <-chan struct{}) {
	gen := media.NewToneGen(media.Tone{Freqs: [2]float64{1900}, Level: -6})
	h := rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x5eed, SequenceNumber: 1, Timestamp: 1}
	frame := make([]int16, 160)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for range 500 {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		frame = gen.Next(frame[:0])
		out, _ := (&rtp.Packet{Header: h, Payload: media.Encode(media.PCMU, nil, frame)}).Marshal()
		_, _ = c.WriteToUDPAddrPort(out, to)
		h.SequenceNumber++
		h.Timestamp += 160
	}
}

// TestKeepAliveToPhoneBehindNAT: a phone behind NAT registered over UDP gets OPTIONS
// from Leadline's SIP socket at the address its REGISTER came from, between its
// refreshes, so that its NAT keeps the mapping; nothing goes to its private address. A
// phone reached at its own Contact gets none.
func TestKeepAliveToPhoneBehindNAT(t *testing.T) {
	store, obs := &memBindings{}, &regObserver{}
	u := newUA(t, sip.Config{})
	reg := sip.NewRegistrar(u, sip.RegistrarConfig{Store: store, Node: "node-a", Observer: obs, KeepAlive: 100 * time.Millisecond})
	t.Cleanup(reg.Close)
	reg.SetAccounts([]sip.Account{
		{User: "sanne", Password: sannePass, Dealer: "jansen", Person: "sanne"},
		{User: "kees", Password: keesPass, Dealer: "jansen", Person: "kees"},
	})
	nated := phoneAt(t, "sanne", "127.0.0.7", simphone.Behaviour{})
	private := netip.MustParseAddr("127.0.0.5")
	nated.BehindNAT(private)
	trapped := trap(t, netip.AddrPortFrom(private, nated.Addr().Port()))
	direct := phoneAt(t, "kees", "127.0.0.1", simphone.Behaviour{})
	if res, err := nated.Register(ctx(t), u.Addr(), "sanne", sannePass, 300); err != nil || res.StatusCode != 200 {
		t.Fatalf("register: %v %v", res, err)
	}
	if res, err := direct.Register(ctx(t), u.Addr(), "kees", keesPass, 300); err != nil || res.StatusCode != 200 {
		t.Fatalf("register: %v %v", res, err)
	}
	options := func(p *simphone.Phone) int {
		n := 0
		for _, pkt := range p.Received() {
			if strings.HasPrefix(string(pkt.Data), "OPTIONS ") && pkt.From == u.Addr() {
				n++
			}
		}
		return n
	}
	wait.For(t, 5*time.Second, "three keep-alives", func() bool { return options(nated) >= 3 })
	if n := options(direct); n != 0 {
		t.Errorf("the phone reached at its own Contact got %d keep-alives", n)
	}
	if n := trapped.count(); n != 0 {
		t.Errorf("%d packets went to the phone's private address", n)
	}
	obs.mu.Lock()
	gauge := obs.gauge["jansen"]
	obs.mu.Unlock()
	if gauge != 2 {
		t.Errorf("registrations gauge %d, want 2", gauge)
	}
}
