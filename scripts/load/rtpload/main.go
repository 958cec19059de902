// Command rtpload drives G.711 RTP through a media relay on loopback and measures it: how
// fast calls get bridged, how much CPU the relay process spends per bridged call, packet
// loss and the relay's transit time. It plays both ends of every call: the salesperson
// side on one UDP socket and the customer side on another.
//
// With -mode leadline it posts leads to a running `leadline serve` whose salespeople and
// trunk are sipp UASs answering with SDP that names this tool's two sockets. It learns
// each leg from the first packet Leadline sends it (a whisper or ringback) and sends
// 20 ms packets back to that leg at once, from the socket the SDP named (Leadline takes
// media only from there); on a salesperson's leg its first packets press 1 (RFC 4733,
// payload type 101), which accepts the lead. Once the legs are bridged the packets come
// out of the other leg. With -srtp-keys the legs are SRTP (srtp.go).
//
// With -mode rtpengine it sets up the same calls on rtpengine over its ng control
// protocol (offer/answer) and sends the same traffic through it.
//
// Every packet carries, in its payload, a stream id, a sequence number and the time it
// was sent, so the side that receives it knows how long it took and which were lost.
// Payloads are PCMU end to end, so a relay passes them unchanged. Transit ends when the
// kernel queued the packet to the tool's socket (SO_TIMESTAMPNS), that is when the relay
// sent it, so that the tool's own scheduling does not count against the relay; the time
// the tool got to read it is reported too. A third stream goes straight from one socket
// to the other as a baseline for the tool and kernel's own share of the transit time.
//
// It prints a summary and, with -json, a JSON line for scripts/load/run.sh.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	ptime      = 20 * time.Millisecond
	payloadLen = 160
	maxStreams = 1 << 16
	magic      = "LLrt"
)

// now is the wall clock in Unix nanoseconds, the clock of the kernel's receive stamps.
func now() int64 { return time.Now().UnixNano() }

// stream is the RTP the tool sends to one address from one of its sockets.
type stream struct {
	id    uint32
	side  int // 0: salesperson socket, 1: customer socket, 2: baseline
	to    netip.AddrPort
	seq   atomic.Uint32 // next sequence number to send
	first atomic.Int64  // when its first packet came out at the far side (ns), 0: not yet
	press int           // RFC 4733 packets of the key press sent; the send goroutine's
	evTS  uint32        // the press's timestamp
	winLo atomic.Uint32 // first sequence number of the measurement window; MaxUint32 before
	winRx atomic.Uint64 // packets received in the window
	maxUs atomic.Int64  // its longest transit in the window (µs)
	sumUs atomic.Int64  // and their sum
	seq0  uint32        // its first sequence number
}

type tool struct {
	socks   [2]*net.UDPConn
	self    [2]netip.AddrPort // the sockets' own addresses (the baseline stream's)
	streams [maxStreams]atomic.Pointer[stream]
	nextID  atomic.Uint32
	mu      sync.Mutex // guards byAddr and slots
	byAddr  map[[2]any]*stream
	slots   [20][]*stream // by send phase within the 20 ms packet time
	sending atomic.Bool
	learn   bool                    // create a stream for each new source (leadline mode)
	srtp    *srtpLegs               // SRTP legs; nil: plain RTP
	hist    [hbuckets]atomic.Uint64 // relayed: sent to arrival at the socket
	read    [hbuckets]atomic.Uint64 // relayed: sent to read by the tool
	base    [hbuckets]atomic.Uint64 // baseline: sent to arrival
	lag     [hbuckets]atomic.Uint64 // how late each 1 ms slot was sent (bursts it makes)
}

// Histogram: 1 µs buckets up to 20 ms, then 1 ms buckets up to 1 s.
const hbuckets = 20000 + 1000

func bucket(d int64) int {
	us := d / 1000
	switch {
	case us < 0:
		return 0
	case us < 20000:
		return int(us)
	case us/1000 < 1000:
		return 20000 + int(us/1000)
	}
	return hbuckets - 1
}

func bucketMicros(i int) float64 {
	if i < 20000 {
		return float64(i) + 0.5
	}
	return float64((i-20000)*1000) + 500
}

func percentile(h *[hbuckets]atomic.Uint64, p float64) (float64, uint64) {
	var total uint64
	for i := range h {
		total += h[i].Load()
	}
	if total == 0 {
		return 0, 0
	}
	want := max(1, uint64(math.Ceil(float64(total)*p)))
	var seen uint64
	for i := range h {
		seen += h[i].Load()
		if seen >= want {
			return bucketMicros(i), total
		}
	}
	return bucketMicros(hbuckets - 1), total
}

func newTool(agentPort, custPort int, learn bool) (*tool, error) {
	t := &tool{byAddr: map[[2]any]*stream{}, learn: learn}
	for i, port := range []int{agentPort, custPort} {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			return nil, err
		}
		_ = c.SetReadBuffer(8 << 20)
		_ = c.SetWriteBuffer(8 << 20)
		if err := stampTimes(c); err != nil {
			return nil, fmt.Errorf("SO_TIMESTAMPNS: %w", err)
		}
		t.socks[i] = c
		t.self[i] = c.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	t.sending.Store(true)
	return t, nil
}

// addStream starts sending to addr from side's socket.
func (t *tool) addStream(side int, addr netip.AddrPort) *stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := [2]any{side, addr}
	if s := t.byAddr[k]; s != nil {
		return s
	}
	id := t.nextID.Add(1)
	if id >= maxStreams {
		return nil
	}
	s := &stream{id: id, side: side, to: addr, seq0: rand.Uint32() >> 8}
	s.seq.Store(s.seq0)
	s.winLo.Store(^uint32(0))
	t.streams[id].Store(s)
	t.byAddr[k] = s
	slot := int(id) % len(t.slots)
	t.slots[slot] = append(t.slots[slot], s)
	return s
}

// send runs until ctx ends: every millisecond it sends the packets of the streams whose
// 20 ms phase falls in it, so that the load is spread as real calls spread it, batched
// per socket with sendmmsg.
func (t *tool) send(ctx context.Context) {
	batches := [2]*batch{newBatch(256, 12+payloadLen+srtpTag), newBatch(256, 12+payloadLen+srtpTag)}
	timer := time.NewTimer(time.Millisecond)
	defer timer.Stop()
	due := time.Now()
	slot := 0
	var todo []*stream
	for {
		// Send every slot that is due, late ones too: a busy moment delays packets but
		// never drops them, so every stream keeps its 50 packets a second.
		for now := time.Now(); !due.After(now); due = due.Add(time.Millisecond) {
			slot = (slot + 1) % len(t.slots)
			if !t.sending.Load() {
				continue
			}
			t.mu.Lock()
			todo = append(todo[:0], t.slots[slot]...)
			t.mu.Unlock()
			t.lag[bucket(int64(time.Since(due)))].Add(1)
			t.sendSlot(todo, &batches)
		}
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

func (t *tool) sendSlot(todo []*stream, batches *[2]*batch) {
	var counts [2]int
	for _, s := range todo {
		side := s.side % 2
		b := batches[side]
		if counts[side] == len(b.msgs) {
			sendBatch(t.socks[side], b, counts[side])
			counts[side] = 0
		}
		buf := b.bufs[counts[side]]
		seq := s.seq.Add(1) - 1
		n := 12 + payloadLen
		if t.learn && s.side == 0 && s.press < pressPackets {
			n = t.pressPacket(s, buf, seq)
		} else {
			buf[0], buf[1] = 0x80, 0 // V=2, PT 0 (PCMU)
			binary.BigEndian.PutUint16(buf[2:], uint16(seq))
			binary.BigEndian.PutUint32(buf[4:], seq*payloadLen)
			binary.BigEndian.PutUint32(buf[8:], s.id)
			p := buf[12:]
			copy(p, magic)
			binary.BigEndian.PutUint32(p[4:], s.id)
			binary.BigEndian.PutUint32(p[8:], seq)
			for i := 20; i < payloadLen; i++ {
				p[i] = 0xFF // PCMU silence
			}
			binary.BigEndian.PutUint64(p[12:], uint64(now()))
		}
		if t.srtp != nil && s.side != 2 {
			var err error
			if n, err = t.srtp.encrypt(buf, n); err != nil {
				continue
			}
		}
		b.setTo(counts[side], s.to, n)
		counts[side]++
	}
	for side := range batches {
		if counts[side] > 0 {
			sendBatch(t.socks[side], batches[side], counts[side])
		}
	}
}

// pressPackets is how many packets a key press takes: three updates and three
// retransmitted end packets (RFC 4733 section 2.5.1.4), 120 ms.
const pressPackets = 6

// srtpTag is what SRTP adds to a packet (AES_CM_128_HMAC_SHA1_80).
const srtpTag = 10

// pressPacket writes the next packet of the key press '1' on a salesperson's leg into
// buf (telephone-event, payload type 101, every packet with the press's timestamp) and
// returns its length.
func (t *tool) pressPacket(s *stream, buf []byte, seq uint32) int {
	if s.press == 0 {
		s.evTS = seq * payloadLen
	}
	buf[0], buf[1] = 0x80, 101
	if s.press == 0 {
		buf[1] |= 0x80 // marker: the event starts
	}
	binary.BigEndian.PutUint16(buf[2:], uint16(seq))
	binary.BigEndian.PutUint32(buf[4:], s.evTS)
	binary.BigEndian.PutUint32(buf[8:], s.id)
	dur := uint16(payloadLen * min(s.press+1, 3))
	buf[12], buf[13] = 1, 10 // event 1, volume -10 dBm0
	if s.press >= 3 {
		buf[13] |= 0x80 // E: the end, sent three times
	}
	binary.BigEndian.PutUint16(buf[14:], dur)
	s.press++
	return 16
}

// recv reads side's socket until it is closed, in batches (recvmmsg).
func (t *tool) recv(side int) {
	b := newBatch(64, 2048)
	for {
		n, err := recvBatch(t.socks[side], b)
		if err != nil {
			return
		}
		read := now()
		for i := range n {
			at := b.arrived(i)
			if at == 0 {
				at = read
			}
			t.received(side, b.from(i), b.bufs[i][:b.msgs[i].n], at, read)
		}
	}
}

// received counts a packet that arrived at side's socket at (the kernel's stamp) and
// that the tool read at read.
func (t *tool) received(side int, from netip.AddrPort, buf []byte, at, read int64) {
	if len(buf) < 12+20 || buf[0]>>6 != 2 {
		return
	}
	if t.learn && from != t.self[0] && from != t.self[1] {
		// A leg we have not heard before (Leadline's whisper or ringback on the
		// salesperson's leg, relayed media on the customer's): send to it, once its
		// SRTP key is known.
		t.mu.Lock()
		known := t.byAddr[[2]any{side, from}] != nil
		t.mu.Unlock()
		if !known {
			if t.srtp != nil && !t.srtp.learn(from) {
				return
			}
			t.addStream(side, from)
		}
		if t.srtp != nil {
			var ok bool
			if buf, ok = t.srtp.decrypt(from, buf); !ok || len(buf) < 12+20 {
				return
			}
		}
	}
	p := buf[12:]
	if string(p[:4]) != magic {
		return
	}
	id := binary.BigEndian.Uint32(p[4:])
	seq := binary.BigEndian.Uint32(p[8:])
	sent := int64(binary.BigEndian.Uint64(p[12:]))
	if id >= maxStreams {
		return
	}
	s := t.streams[id].Load()
	if s == nil {
		return
	}
	if s.first.Load() == 0 {
		s.first.CompareAndSwap(0, at)
	}
	if lo := s.winLo.Load(); seq >= lo && seq-lo < 1<<30 {
		s.winRx.Add(1)
		us := (at - sent) / 1000
		s.sumUs.Add(us)
		for m := s.maxUs.Load(); us > m && !s.maxUs.CompareAndSwap(m, us); m = s.maxUs.Load() {
		}
		if s.side == 2 {
			t.base[bucket(at-sent)].Add(1)
		} else {
			t.hist[bucket(at-sent)].Add(1)
			t.read[bucket(read-sent)].Add(1)
		}
	}
}

// cpuTicks reads a process's user+system time in clock ticks from /proc.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+2:]))
	// fields from state (3rd): utime is the 14th of the line, stime the 15th.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	return ut + st, errors.Join(err1, err2)
}

// Result is what one run measured.
type Result struct {
	Mode          string  `json:"mode"`
	Calls         int     `json:"calls"`
	Rate          float64 `json:"rate_per_s"`
	Bridged       int     `json:"bridged"`          // calls with media out of both legs
	SetupPerSec   float64 `json:"setup_per_s"`      // calls bridged per second, first bridge to last
	SetupP50Ms    float64 `json:"setup_p50_ms"`     // post (or offer) to first relayed packet
	SetupP99Ms    float64 `json:"setup_p99_ms"`     //
	WindowS       float64 `json:"window_s"`         // the measurement window
	CPUPct        float64 `json:"cpu_pct"`          // of one core, in the window
	CPUPctPerCall float64 `json:"cpu_pct_per_call"` // CPUPct / bridged calls
	Packets       uint64  `json:"packets"`          // relayed packets received in the window
	Expected      uint64  `json:"expected"`         // sent in the window
	Nominal       uint64  `json:"nominal"`          // 50 a second each way on every bridged call
	Stopped       int     `json:"stopped"`          // streams that lost over half their packets
	LossPct       float64 `json:"loss_pct"`
	TransitP50Us  float64 `json:"transit_p50_us"`
	TransitP99Us  float64 `json:"transit_p99_us"`
	TransitP999Us float64 `json:"transit_p999_us"`
	TransitMaxUs  float64 `json:"transit_max_us"`
	ReadP50Us     float64 `json:"read_p50_us"` // sent to read by the tool: the transit plus the tool's own delay
	ReadP99Us     float64 `json:"read_p99_us"`
	SendLagP99Us  float64 `json:"send_lag_p99_us"` // how late the tool sent a 1 ms slot: a late slot goes out with the next, a burst
	BaselineP50Us float64 `json:"baseline_p50_us"` // socket to socket, no relay
	BaselineP99Us float64 `json:"baseline_p99_us"`
	PostErrors    int     `json:"post_errors"`
	SRTPFailures  int64   `json:"srtp_failures,omitempty"` // packets from Leadline that did not decrypt
}

func main() {
	var (
		mode      = flag.String("mode", "leadline", "leadline, rtpengine; or prompts (write prompt WAVs to -dir), ports (print -n free port pairs)")
		calls     = flag.Int("calls", 100, "calls to bring up")
		rate      = flag.Float64("rate", 100, "calls started per second")
		agentPort = flag.Int("agent-port", 40000, "UDP port of the salesperson side (named in the salespeople's SDP)")
		custPort  = flag.Int("cust-port", 40002, "UDP port of the customer side (named in the trunk's SDP)")
		api       = flag.String("api", "http://127.0.0.1:8080", "leadline: HTTP API")
		key       = flag.String("key", "", "leadline: dealer API key")
		phonePfx  = flag.String("phone-prefix", "+316", "leadline: customers' numbers are this prefix and -phone-digits digits")
		phoneDig  = flag.Int("phone-digits", 8, "leadline: see -phone-prefix")
		phoneBase = flag.Int("phone-base", 10000000, "leadline: the first customer's digits")
		ng        = flag.String("ng", "127.0.0.1:2223", "rtpengine: ng control address")
		pid       = flag.Int("pid", 0, "process whose CPU is measured")
		settle    = flag.Duration("settle", 30*time.Second, "longest wait for all calls to be bridged")
		window    = flag.Duration("window", 20*time.Second, "measurement window with all calls up")
		clkTck    = flag.Int("clk-tck", 100, "clock ticks per second (getconf CLK_TCK)")
		jsonOut   = flag.String("json", "", "append the result as a JSON line to this file")
		srtpKeys  = flag.String("srtp-keys", "", "leadline: SRTP legs; the files (comma-separated) where the sipp scenarios write each offer's port and key")
		srtpKey   = flag.String("srtp-key", "", "leadline: with -srtp-keys, the key (base64 of key and salt) the sipp scenarios answer with")
		verbose   = flag.Bool("v", false, "list every stream at the end")
	)
	dir := flag.String("dir", "", "prompts: where to write the prompt WAVs")
	nports := flag.Int("n", 1, "ports: how many")
	flag.Parse()
	switch *mode {
	case "prompts":
		if err := writePrompts(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "rtpload:", err)
			os.Exit(1)
		}
		return
	case "ports":
		if err := freePorts(*nports); err != nil {
			fmt.Fprintln(os.Stderr, "rtpload:", err)
			os.Exit(1)
		}
		return
	}
	if *calls <= 0 || *calls > 5000 || *rate <= 0 || *window <= 0 {
		fmt.Fprintln(os.Stderr, "rtpload: -calls 1..5000, -rate and -window positive")
		os.Exit(2)
	}
	t, err := newTool(*agentPort, *custPort, *mode == "leadline")
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtpload:", err)
		os.Exit(1)
	}
	if *srtpKeys != "" {
		if *mode != "leadline" {
			fmt.Fprintln(os.Stderr, "rtpload: -srtp-keys is for -mode leadline")
			os.Exit(2)
		}
		if t.srtp, err = newSRTPLegs(strings.Split(*srtpKeys, ","), *srtpKey); err != nil {
			fmt.Fprintln(os.Stderr, "rtpload:", err)
			os.Exit(2)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { t.recv(0) })
	wg.Go(func() { t.recv(1) })
	wg.Go(func() { t.send(ctx) })
	defer func() {
		cancel()
		t.socks[0].Close()
		t.socks[1].Close()
		wg.Wait()
	}()
	t.addStream(2, t.socks[1].LocalAddr().(*net.UDPAddr).AddrPort()) // the baseline

	res := Result{Mode: *mode, Calls: *calls, Rate: *rate}
	if t.srtp != nil {
		res.Mode += "-srtp"
	}
	var starts []int64
	var rtpe *rtpengine
	switch *mode {
	case "leadline":
		starts, res.PostErrors = postLeads(*api, *key, *calls, *rate, *phonePfx, *phoneDig, *phoneBase)
	case "rtpengine":
		if rtpe, err = dialRTPengine(*ng); err != nil {
			fmt.Fprintln(os.Stderr, "rtpload:", err)
			os.Exit(1)
		}
		starts, err = rtpe.setup(t, *calls, *rate, *agentPort, *custPort)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rtpload:", err)
		}
		defer rtpe.teardown(*calls)
	default:
		fmt.Fprintln(os.Stderr, "rtpload: unknown mode", *mode)
		os.Exit(2)
	}

	// Wait until every call is bridged both ways (or settle passes).
	deadline := time.Now().Add(*settle)
	var bridged int
	for {
		bridged = t.bridged()
		if bridged >= *calls || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Bridged = bridged
	firsts := t.firstArrivals()
	if len(firsts) > 1 && len(starts) > 0 {
		slices.Sort(firsts)
		// Calls bridged per second, from the first bridge to the last: the rate the
		// relay sets calls up at, the leads' own duration (whisper, key) aside.
		res.SetupPerSec = float64(len(firsts)-1) / (float64(firsts[len(firsts)-1]-firsts[0]) / 1e9)
		var lat []float64
		for i := range min(len(firsts), len(starts)) {
			lat = append(lat, float64(firsts[i]-starts[i])/1e6)
		}
		slices.Sort(lat)
		res.SetupP50Ms = lat[len(lat)/2]
		res.SetupP99Ms = lat[len(lat)*99/100]
	}

	// The window: CPU, loss and transit with every call up.
	var c0 int64
	if *pid > 0 {
		c0, _ = cpuTicks(*pid)
	}
	w0 := time.Now()
	t.openWindow()
	time.Sleep(*window)
	t.sending.Store(false)
	var c1 int64
	if *pid > 0 {
		c1, _ = cpuTicks(*pid)
	}
	w := time.Since(w0)
	time.Sleep(300 * time.Millisecond) // packets in flight
	res.WindowS = w.Seconds()
	if *pid > 0 {
		res.CPUPct = float64(c1-c0) / float64(*clkTck) / w.Seconds() * 100
		if bridged > 0 {
			res.CPUPctPerCall = res.CPUPct / float64(bridged)
		}
	}
	res.Packets, res.Expected, res.Stopped = t.counts()
	res.Nominal = uint64(float64(bridged) * 2 * float64(time.Second/ptime) * w.Seconds())
	if res.Expected > 0 {
		res.LossPct = float64(res.Expected-min(res.Packets, res.Expected)) / float64(res.Expected) * 100
	}
	res.TransitP50Us, _ = percentile(&t.hist, 0.50)
	res.TransitP99Us, _ = percentile(&t.hist, 0.99)
	res.TransitP999Us, _ = percentile(&t.hist, 0.999)
	res.TransitMaxUs, _ = percentile(&t.hist, 1)
	res.SendLagP99Us, _ = percentile(&t.lag, 0.99)
	res.ReadP50Us, _ = percentile(&t.read, 0.50)
	res.ReadP99Us, _ = percentile(&t.read, 0.99)
	res.BaselineP50Us, _ = percentile(&t.base, 0.50)
	res.BaselineP99Us, _ = percentile(&t.base, 0.99)

	fmt.Printf("%s: %d/%d calls bridged, set up at %.0f/s (post to media p50 %.0f ms, p99 %.0f ms)\n",
		res.Mode, res.Bridged, res.Calls, res.SetupPerSec, res.SetupP50Ms, res.SetupP99Ms)
	fmt.Printf("  window %.1f s: CPU %.1f %% of a core, %.4f %% per bridged call\n", res.WindowS, res.CPUPct, res.CPUPctPerCall)
	fmt.Printf("  packets %d of %d, loss %.4f %%\n", res.Packets, res.Expected, res.LossPct)
	if res.Bridged < res.Calls {
		fmt.Printf("  WARNING: %d calls were not bridged when the window opened\n", res.Calls-res.Bridged)
	}
	if res.Stopped > 0 {
		fmt.Printf("  WARNING: %d streams lost over half their packets: calls ended in the window?\n", res.Stopped)
	}
	if float64(res.Expected) < 0.97*float64(res.Nominal) {
		fmt.Printf("  WARNING: rtpload sent %d packets, not the %d due: it did not keep its pace (machine busy?)\n", res.Expected, res.Nominal)
	}
	fmt.Printf("  transit p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %.0f µs (baseline without relay: p50 %.0f µs, p99 %.0f µs)\n",
		res.TransitP50Us, res.TransitP99Us, res.TransitP999Us, res.TransitMaxUs, res.BaselineP50Us, res.BaselineP99Us)
	fmt.Printf("  sent to read by the tool: p50 %.0f µs, p99 %.0f µs; slots sent late by p99 %.0f µs\n", res.ReadP50Us, res.ReadP99Us, res.SendLagP99Us)
	if n := sendErrors.Load(); n > 0 {
		fmt.Printf("  send errors: %d (last: %v)\n", n, lastSendErr.Load())
	}
	if t.srtp != nil {
		res.SRTPFailures = t.srtp.failures.Load()
		fmt.Printf("  srtp: %d packets from Leadline did not decrypt\n", res.SRTPFailures)
	}
	if *verbose {
		for i := uint32(1); i <= t.nextID.Load() && i < maxStreams; i++ {
			if s := t.streams[i].Load(); s != nil {
				mean := int64(0)
				if n := int64(s.winRx.Load()); n > 0 {
					mean = s.sumUs.Load() / n
				}
				fmt.Printf("  stream %d side %d to %v first %.3f s sent %d window from %d rx %d transit mean %d max %d µs\n", s.id, s.side, s.to,
					float64(s.first.Load())/1e9, s.seq.Load(), s.winLo.Load(), s.winRx.Load(), mean, s.maxUs.Load())
			}
		}
	}
	if *jsonOut != "" {
		f, err := os.OpenFile(*jsonOut, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_ = json.NewEncoder(f).Encode(res)
			f.Close()
		}
	}
}

// bridged counts calls whose media comes out of both legs: salesperson streams and
// customer streams that reached the other side, the smaller of the two.
func (t *tool) bridged() int {
	var a, c int
	for i := uint32(1); i <= t.nextID.Load() && i < maxStreams; i++ {
		s := t.streams[i].Load()
		if s == nil || s.first.Load() == 0 {
			continue
		}
		switch s.side {
		case 0:
			a++
		case 1:
			c++
		}
	}
	return min(a, c)
}

// firstArrivals are the times the salesperson streams first came out at the customer.
func (t *tool) firstArrivals() []int64 {
	var out []int64
	for i := uint32(1); i <= t.nextID.Load() && i < maxStreams; i++ {
		if s := t.streams[i].Load(); s != nil && s.side == 0 && s.first.Load() != 0 {
			out = append(out, s.first.Load())
		}
	}
	return out
}

// openWindow starts counting, for the streams already flowing, from their next packet.
func (t *tool) openWindow() {
	for i := range t.lag {
		t.lag[i].Store(0)
	}
	for i := uint32(1); i <= t.nextID.Load() && i < maxStreams; i++ {
		if s := t.streams[i].Load(); s != nil && s.first.Load() != 0 {
			s.winLo.Store(s.seq.Load())
		}
	}
}

// counts are the packets received in the window and those sent in it, and the streams
// that lost more than half of theirs (a call that ended inside the window).
func (t *tool) counts() (rx, expected uint64, stopped int) {
	for i := uint32(1); i <= t.nextID.Load() && i < maxStreams; i++ {
		s := t.streams[i].Load()
		if s == nil || s.side == 2 {
			continue
		}
		lo := s.winLo.Load()
		if lo == ^uint32(0) {
			continue
		}
		n, e := s.winRx.Load(), uint64(s.seq.Load()-lo)
		rx += n
		expected += e
		if n < e/2 {
			stopped++
		}
	}
	return rx, expected, stopped
}

// postLeads posts n leads at rate per second and returns when each was posted.
func postLeads(api, key string, n int, rate float64, prefix string, digits, base int) (starts []int64, errs int) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	for i := range n {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		sem <- struct{}{}
		at := now()
		mu.Lock()
		starts = append(starts, at)
		mu.Unlock()
		wg.Go(func() {
			defer func() { <-sem }()
			body := fmt.Sprintf(`{"phone":"%s%0*d","name":"Load Test %d","source":"load","interest":"relay"}`, prefix, digits, base+i, i)
			req, _ := http.NewRequest("POST", api+"/v1/leads", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if err != nil || res.StatusCode != http.StatusAccepted {
				mu.Lock()
				errs++
				if errs <= 3 {
					fmt.Fprintln(os.Stderr, "rtpload: post:", err, statusOf(res))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return starts, errs
}

func statusOf(res *http.Response) string {
	if res == nil {
		return ""
	}
	return res.Status
}
