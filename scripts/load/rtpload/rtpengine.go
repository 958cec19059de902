package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// rtpengine speaks rtpengine's ng control protocol: a cookie, a space and a bencoded
// dictionary, over UDP.
type rtpengine struct {
	conn *net.UDPConn
	n    int
}

func dialRTPengine(addr string) (*rtpengine, error) {
	ra, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp4", nil, ra)
	if err != nil {
		return nil, err
	}
	r := &rtpengine{conn: c}
	if _, err := r.command(map[string]any{"command": "ping"}); err != nil {
		return nil, fmt.Errorf("rtpengine ping: %w", err)
	}
	return r, nil
}

func (r *rtpengine) command(d map[string]any) (map[string]any, error) {
	r.n++
	cookie := strconv.Itoa(r.n)
	var b bytes.Buffer
	b.WriteString(cookie + " ")
	bencode(&b, d)
	buf := make([]byte, 65536)
	for try := 0; try < 3; try++ {
		if _, err := r.conn.Write(b.Bytes()); err != nil {
			return nil, err
		}
		_ = r.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := r.conn.Read(buf)
			if err != nil {
				break
			}
			got, rest, ok := bytes.Cut(buf[:n], []byte(" "))
			if !ok || string(got) != cookie {
				continue // a late answer to an earlier try
			}
			v, _, err := bdecode(rest)
			if err != nil {
				return nil, err
			}
			m, _ := v.(map[string]any)
			if res, _ := m["result"].(string); res != "ok" && res != "pong" {
				return m, fmt.Errorf("rtpengine %v: %v %v", d["command"], m["result"], m["error-reason"])
			}
			return m, nil
		}
	}
	return nil, errors.New("rtpengine: no answer")
}

var mPort = regexp.MustCompile(`m=audio (\d+) `)

func sdpFor(port int) string {
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", port)
}

func portOf(m map[string]any) (int, error) {
	sdp, _ := m["sdp"].(string)
	p := mPort.FindStringSubmatch(sdp)
	if p == nil {
		return 0, fmt.Errorf("no audio port in %q", sdp)
	}
	return strconv.Atoi(p[1])
}

// setup offers and answers n calls at rate per second, each from the salesperson socket
// to the customer socket, and starts their streams: the salesperson side sends to the
// port in rtpengine's answer, the customer side to the one in its offer.
func (r *rtpengine) setup(t *tool, n int, rate float64, agentPort, custPort int) ([]int64, error) {
	var starts []int64
	interval := time.Duration(float64(time.Second) / rate)
	next := time.Now()
	lo := netip.MustParseAddr("127.0.0.1")
	for i := range n {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		starts = append(starts, now())
		id := fmt.Sprintf("load-%d", i)
		off, err := r.command(map[string]any{"command": "offer", "call-id": id, "from-tag": "a" + id, "sdp": sdpFor(agentPort)})
		if err != nil {
			return starts, err
		}
		toCust, err := portOf(off)
		if err != nil {
			return starts, err
		}
		ans, err := r.command(map[string]any{"command": "answer", "call-id": id, "from-tag": "a" + id, "to-tag": "c" + id, "sdp": sdpFor(custPort)})
		if err != nil {
			return starts, err
		}
		toAgent, err := portOf(ans)
		if err != nil {
			return starts, err
		}
		t.addStream(0, netip.AddrPortFrom(lo, uint16(toAgent)))
		t.addStream(1, netip.AddrPortFrom(lo, uint16(toCust)))
	}
	return starts, nil
}

func (r *rtpengine) teardown(n int) {
	for i := range n {
		id := fmt.Sprintf("load-%d", i)
		_, _ = r.command(map[string]any{"command": "delete", "call-id": id, "from-tag": "a" + id})
	}
	r.conn.Close()
}

// bencode writes strings, integers, lists and dictionaries (keys sorted).
func bencode(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case string:
		fmt.Fprintf(b, "%d:%s", len(v), v)
	case int:
		fmt.Fprintf(b, "i%de", v)
	case []any:
		b.WriteByte('l')
		for _, e := range v {
			bencode(b, e)
		}
		b.WriteByte('e')
	case map[string]any:
		b.WriteByte('d')
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			bencode(b, k)
			bencode(b, v[k])
		}
		b.WriteByte('e')
	}
}

func bdecode(b []byte) (any, []byte, error) {
	if len(b) == 0 {
		return nil, nil, errors.New("bencode: short")
	}
	switch c := b[0]; {
	case c == 'i':
		end := bytes.IndexByte(b, 'e')
		if end < 0 {
			return nil, nil, errors.New("bencode: int")
		}
		n, err := strconv.Atoi(string(b[1:end]))
		return n, b[end+1:], err
	case c == 'l':
		var out []any
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			v, rest, err := bdecode(b)
			if err != nil {
				return nil, nil, err
			}
			out, b = append(out, v), rest
		}
		if len(b) == 0 {
			return nil, nil, errors.New("bencode: list")
		}
		return out, b[1:], nil
	case c == 'd':
		out := map[string]any{}
		b = b[1:]
		for len(b) > 0 && b[0] != 'e' {
			k, rest, err := bdecode(b)
			if err != nil {
				return nil, nil, err
			}
			v, rest, err := bdecode(rest)
			if err != nil {
				return nil, nil, err
			}
			ks, _ := k.(string)
			out[ks], b = v, rest
		}
		if len(b) == 0 {
			return nil, nil, errors.New("bencode: dict")
		}
		return out, b[1:], nil
	case c >= '0' && c <= '9':
		colon := bytes.IndexByte(b, ':')
		if colon < 0 {
			return nil, nil, errors.New("bencode: string")
		}
		n, err := strconv.Atoi(string(b[:colon]))
		if err != nil || colon+1+n > len(b) {
			return nil, nil, errors.New("bencode: string length")
		}
		return string(b[colon+1 : colon+1+n]), b[colon+1+n:], nil
	}
	return nil, nil, fmt.Errorf("bencode: unexpected %q", b[0])
}
