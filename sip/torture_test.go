package sip

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tortureDir holds the RFC 4475 messages that ship with sipgo.
func tortureDir(t *testing.T) string {
	t.Helper()
	dir, err := tortureDirOf()
	if err != nil {
		t.Skipf("torture messages not found: %v", err)
	}
	return dir
}

func tortureDirOf() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/emiago/sipgo").Output()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "sip", "testdata", "torture")
	_, err = os.Stat(dir)
	return dir, err
}

// sentPacket is a datagram the UA wrote.
type sentPacket struct {
	to   string
	data []byte
}

// recordingConn is the UA's UDP socket with every datagram it writes recorded. Datagrams
// to anywhere but allowed (responses routed by a torture message's Via) are not sent.
type recordingConn struct {
	net.PacketConn
	allowed netip.AddrPort
	mu      sync.Mutex
	sent    []sentPacket
}

func (c *recordingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	c.sent = append(c.sent, sentPacket{addr.String(), append([]byte(nil), b...)})
	c.mu.Unlock()
	if a, ok := addr.(*net.UDPAddr); ok && netip.AddrPortFrom(a.AddrPort().Addr().Unmap(), a.AddrPort().Port()) == c.allowed {
		return c.PacketConn.WriteTo(b, addr)
	}
	return len(b), nil
}

func (c *recordingConn) take() []sentPacket {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.sent
	c.sent = nil
	return out
}

var callIDLine = regexp.MustCompile(`(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)`)

// callIDOf is the Call-ID of a raw message, or "".
func callIDOf(b []byte) string {
	if m := callIDLine.FindSubmatch(b); m != nil {
		return string(m[1])
	}
	return ""
}

func statusCodes(pkts [][]byte) []int {
	var codes []int
	for _, p := range pkts {
		line, _, _ := bytes.Cut(p, []byte("\r\n"))
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "SIP/2.0" {
			if n, err := strconv.Atoi(f[1]); err == nil {
				codes = append(codes, n)
			}
		}
	}
	return codes
}

// tortureWant is what the UA answers to each RFC 4475 message over UDP and over TCP
// (0: nothing, the message is dropped), with the RFC's expectation where it differs.
// Messages sipgo cannot parse are dropped before they reach the UA; the RFC allows
// dropping an unparseable message, and over TCP a message without Content-Length cannot
// be framed at all (RFC 3261 section 18.3).
var tortureWant = map[string]struct{ udp, tcp int }{ // tcp -1: see the entry; -2: 400 or nothing
	// Valid messages (RFC 4475 section 3.1.1).
	"valid/wsinv":   {400, 400}, // RFC: 403. sipgo's transaction layer answers 400: it finds no From tag in "tag = 98asjd8"
	"valid/intmeth": {501, 501}, // unknown method
	"valid/esc01":   {403, 403}, // INVITE from outside: refused
	"valid/escnull": {405, 405}, // REGISTER: we are no registrar
	"valid/esc02":   {501, 501}, // an escaped method name is another, unknown, method
	"valid/lwsdisp": {200, 200}, // OPTIONS
	// RFC: 403. Over UDP the 403 (it repeats the request's many Via headers) exceeds
	// the 1300 bytes sipgo sends over UDP, and is not sent.
	"valid/longreq": {0, 403},
	// REGISTER; the INVITE after it in the datagram is ignored. Over TCP both are
	// messages, answered concurrently (405, 403), each unless the stray CRLF between
	// them ends the connection first.
	"valid/dblreq":     {405, -1},
	"valid/semiuri":    {200, 200},
	"valid/transports": {200, 200},
	"valid/mpart01":    {405, 405}, // MESSAGE
	"valid/unreason":   {0, 0},     // a response matching nothing
	"valid/noreason":   {0, 0},
	// Invalid messages (RFC 4475 section 3.1.2): 400 or dropped, unless noted.
	"invalid/badinv01":   {0, 0},
	"invalid/clerr":      {0, 0},
	"invalid/scalar02":   {0, 0},
	"invalid/scalarlg":   {0, 0},
	"invalid/quotbal":    {0, 0},
	"invalid/ltgtruri":   {0, 0},
	"invalid/lwsruri":    {0, 0},
	"invalid/lwsstart":   {0, 0},
	"invalid/trws":       {0, 0},
	"invalid/escruri":    {403, 403}, // RFC: a UAS may ignore the escaped headers; refused as any INVITE
	"invalid/baddate":    {403, 403}, // RFC: process as if the Date were valid
	"invalid/regbadct":   {405, 405},
	"invalid/badaspec":   {0, 0},
	"invalid/baddn":      {0, 0},
	"invalid/badvers":    {505, 505},
	"invalid/mismatch01": {400, 400},
	"invalid/mismatch02": {400, 400}, // RFC: 400 (or 501)
	"invalid/bigcode":    {0, 0},
	"invalid/badbranch":  {200, 200}, // RFC: a branch of just the cookie is still a branch
	"invalid/insuf":      {400, 400},
	"invalid/unkscm":     {416, 416},
	"invalid/novelsc":    {0, 0},     // RFC: 416; sipgo cannot parse the URI and drops it
	"invalid/unksm2":     {405, 405}, // REGISTER (RFC: 416 for its To scheme; 405 comes first)
	"invalid/bext01":     {420, 420},
	"invalid/inv2543":    {400, 0},   // RFC: 403. sipgo needs a From tag to key an RFC 2543 transaction: stateless 400. No Content-Length: unframeable over TCP
	"invalid/invut":      {403, 403}, // RFC: 415; refused before the body is considered
	"invalid/regaut01":   {405, 405},
	"invalid/multi01":    {400, 400},
	"invalid/mcl01":      {400, -2}, // two Content-Lengths: unframeable over TCP; a 400 may get out before the drop
	"invalid/bcast":      {0, 0},    // a response
	"invalid/ncl":        {0, 0},
	"invalid/zeromf":     {200, 200}, // OPTIONS with Max-Forwards 0: a UAS answers it
	"invalid/sdp01":      {403, 403}, // RFC: 415; refused first
	"invalid/cparam01":   {405, 405},
	"invalid/cparam02":   {405, 405},
	"invalid/regescrt":   {405, 405},
	"invalid/test":       {0, 0},
	// Crafted: missing mandatory header fields get 400 (RFC 3261 section 8.2.2), from us
	// or from sipgo's transaction layer when it cannot key a transaction (no CSeq, no
	// Via: then to the packet's source). Content-Length beyond the message: dropped (UDP)
	// or the connection closed (TCP), nothing allocated.
	"crafted/no-to":              {400, 400},
	"crafted/no-from":            {400, 400},
	"crafted/no-call-id":         {400, 400},
	"crafted/no-cseq":            {400, 400},
	"crafted/no-via":             {400, 400},
	"crafted/invite-no-to":       {400, 400},
	"crafted/bye-no-call-id":     {400, 400},
	"crafted/content-length-4g":  {0, 0},
	"crafted/content-length-1g":  {0, 0},
	"crafted/content-length-64k": {0, 0},
}

type torture struct {
	name string
	data []byte
}

func loadTorture(t *testing.T) []torture {
	dir := tortureDir(t)
	var out []torture
	for _, sub := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*.dat"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, torture{sub + "/" + strings.TrimSuffix(filepath.Base(f), ".dat"), b})
		}
	}
	if len(out) < 40 {
		t.Fatalf("only %d torture messages", len(out))
	}
	return append(out, crafted()...)
}

// crafted are hostile messages of our own: mandatory header fields missing, and
// Content-Length far beyond the message (sipgo v1.x allocated whatever it claimed).
func crafted() []torture {
	base := func(name, method string, drop string, cl string, body string) torture {
		h := []string{
			method + " sip:leadline@127.0.0.1 SIP/2.0",
			"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-crafted-" + name,
			"Max-Forwards: 70",
			"From: <sip:a@example.com>;tag=1",
			"To: <sip:leadline@127.0.0.1>",
			"Call-ID: crafted-" + name,
			"CSeq: 1 " + method,
			"Content-Length: " + cl,
		}
		var keep []string
		for _, l := range h {
			if drop == "" || !strings.HasPrefix(l, drop+":") {
				keep = append(keep, l)
			}
		}
		return torture{"crafted/" + name, []byte(strings.Join(keep, "\r\n") + "\r\n\r\n" + body)}
	}
	return []torture{
		base("no-to", "OPTIONS", "To", "0", ""),
		base("no-from", "OPTIONS", "From", "0", ""),
		base("no-call-id", "OPTIONS", "Call-ID", "0", ""),
		base("no-cseq", "OPTIONS", "CSeq", "0", ""),
		base("no-via", "OPTIONS", "Via", "0", ""),
		base("invite-no-to", "INVITE", "To", "0", ""),
		base("bye-no-call-id", "BYE", "Call-ID", "0", ""),
		base("content-length-4g", "INVITE", "", "4294967296000", "v=0\r\n"),
		base("content-length-1g", "OPTIONS", "", "1073741824", "v=0\r\n"),
		base("content-length-64k", "INVITE", "", "70000", "v=0\r\n"),
	}
}

// All RFC 4475 torture messages, and oversized or header-less ones, sent over UDP and TCP
// to a running UA: each is answered as tortureWant says (valid ones as the RFC says,
// invalid ones 400, another specific error, or dropped), none creates a call, and after
// a thousand of them goroutines and heap are back where they were and OPTIONS is still
// answered.
func TestTortureMessages(t *testing.T) {
	msgs := loadTorture(t)
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var rec *recordingConn
	orig := listenPacket
	listenPacket = func(network, addr string) (net.PacketConn, error) {
		c, err := orig(network, addr)
		if err != nil {
			return nil, err
		}
		rec = &recordingConn{PacketConn: c, allowed: client.LocalAddr().(*net.UDPAddr).AddrPort()}
		return rec, nil
	}
	u, err := Listen(Config{Listen: "127.0.0.1:0", RTPPortMin: 40000, RTPPortMax: 40999})
	listenPacket = orig
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	to := net.UDPAddrFromAddrPort(u.Addr())

	settle()
	goroutines := runtime.NumGoroutine()
	heap := heapInUse()

	// TCP, a connection per message.
	for _, m := range msgs {
		want, ok := tortureWant[m.name]
		if !ok {
			t.Errorf("%s: no expectation", m.name)
			continue
		}
		codes := sendTCP(t, u.Addr(), m.data, 300*time.Millisecond)
		if want.tcp == -1 { // dblreq
			// Two requests handled concurrently: each answer arrives, or does not before
			// the stray CRLF ends the connection, independently of the other.
			sorted := slices.Sorted(slices.Values(codes))
			if !slices.ContainsFunc([][]int{nil, {403}, {405}, {403, 405}}, func(ok []int) bool { return slices.Equal(ok, sorted) }) {
				t.Errorf("tcp %s: answered %v, want at most a 405 and a 403", m.name, codes)
			}
			continue
		}
		if !answered(codes, want.tcp) {
			t.Errorf("tcp %s: answered %v, want %d", m.name, codes, want.tcp)
		}
	}
	// UDP, each to a UA of its own: several messages share a branch and sent-by, and
	// would otherwise be answered as retransmissions of the first.
	for _, m := range msgs {
		want := tortureWant[m.name]
		var r *recordingConn
		listenPacket = func(network, addr string) (net.PacketConn, error) {
			c, err := orig(network, addr)
			if err != nil {
				return nil, err
			}
			r = &recordingConn{PacketConn: c, allowed: client.LocalAddr().(*net.UDPAddr).AddrPort()}
			return r, nil
		}
		one, err := Listen(Config{Listen: "127.0.0.1:0", RTPPortMin: 41000, RTPPortMax: 41999})
		listenPacket = orig
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.WriteTo(m.data, net.UDPAddrFromAddrPort(one.Addr())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Millisecond)
		var codes []int
		for _, p := range r.take() {
			codes = append(codes, statusCodes([][]byte{p.data})...)
		}
		if !answered(codes, want.udp) {
			t.Errorf("udp %s: answered %v, want %d", m.name, codes, want.udp)
		}
		if one.ActiveCalls() != 0 {
			t.Errorf("udp %s created a call", m.name)
		}
		one.Close()
	}
	// The same thousand times over UDP, and a hundred TCP connections, as fast as they go
	// (from a hundred loopback addresses: one address may hold only maxTCPPerSource
	// connections at once).
	for range 20 {
		for _, m := range msgs {
			_, _ = client.WriteTo(m.data, to)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		from := netip.AddrFrom4([4]byte{127, 0, 1, byte(10 + i)})
		wg.Go(func() { sendTCPFrom(t, from, u.Addr(), msgs[i%len(msgs)].data, 50*time.Millisecond) })
	}
	wg.Wait()
	if n := u.ActiveCalls(); n != 0 {
		t.Errorf("%d calls created", n)
	}
	if codes := options(t, client, to); len(codes) != 1 || codes[0] != 200 {
		t.Errorf("OPTIONS afterwards answered %v", codes)
	}
	// Goroutines return to where they were once the last transactions end.
	deadline := time.Now().Add(40 * time.Second)
	for runtime.NumGoroutine() > goroutines+2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines %d, were %d:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	settle()
	if grew := heapInUse() - heap; grew > 8<<20 {
		t.Errorf("heap grew by %d KiB", grew>>10)
	}
	if os.Getenv("DEBUG_GOROUTINES") != "" {
		buf := make([]byte, 1<<20)
		t.Logf("%s", buf[:runtime.Stack(buf, true)])
	}
	t.Logf("goroutines %d → %d, heap %d KiB → %d KiB", goroutines, runtime.NumGoroutine(), heap>>10, heapInUse()>>10)
}

// answered reports whether codes is the one answer want (0: none).
func answered(codes []int, want int) bool {
	switch want {
	case 0:
		return len(codes) == 0
	case -2:
		return len(codes) == 0 || answered(codes, 400)
	}
	return len(codes) == 1 && codes[0] == want
}

func settle() {
	runtime.GC()
	runtime.GC()
}

func heapInUse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// sendTCP writes msg on a new connection and returns the status codes read back within
// wait.
func sendTCP(t *testing.T, to netip.AddrPort, msg []byte, wait time.Duration) []int {
	return sendTCPFrom(t, netip.Addr{}, to, msg, wait)
}

// sendTCPFrom is sendTCP from the local address from (any when invalid).
func sendTCPFrom(t *testing.T, from netip.Addr, to netip.AddrPort, msg []byte, wait time.Duration) []int {
	d := net.Dialer{}
	if from.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))
	}
	c, err := d.Dial("tcp4", to.String())
	if err != nil {
		t.Error(err)
		return nil
	}
	defer c.Close()
	_, _ = c.Write(msg)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var codes []int
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return codes
		}
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "SIP/2.0" {
			if n, err := strconv.Atoi(f[1]); err == nil {
				codes = append(codes, n)
			}
		}
	}
}

// options sends an OPTIONS and returns the status codes answered within a second.
func options(t *testing.T, client *net.UDPConn, to *net.UDPAddr) []int {
	t.Helper()
	local := client.LocalAddr().(*net.UDPAddr)
	id := fmt.Sprintf("options-%d", time.Now().UnixNano())
	msg := fmt.Sprintf("OPTIONS sip:leadline@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%s\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@%s>;tag=p1\r\nTo: <sip:leadline@%s>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		to, local, id, local.IP, to.IP, id)
	if _, err := client.WriteTo([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	var pkts [][]byte
	_ = client.SetReadDeadline(time.Now().Add(time.Second))
	for {
		n, err := client.Read(buf)
		if err != nil {
			break
		}
		if callIDOf(buf[:n]) == id {
			pkts = append(pkts, append([]byte(nil), buf[:n]...))
			break
		}
	}
	return statusCodes(pkts)
}
