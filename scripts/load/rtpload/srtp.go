package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// SRTP legs (-srtp-keys): Leadline offers each leg with a key of its own (SDES, RFC
// 4568) and the sipp scenarios answer with one fixed key (-srtp-key, the same on every
// leg: the streams' SSRCs differ, so no key stream repeats). The sipp scenarios write
// each offer's RTP port and key to a file as they answer it; the tool reads the key of
// a Leadline leg from there when the leg first sends to it, decrypts what the leg sends
// with it, and encrypts what it sends with the answer's key. The baseline stream
// between the tool's own sockets stays plain.

// srtpLegs holds the keys and the crypto contexts.
type srtpLegs struct {
	files  []string // one per sipp (salespeople, customers)
	answer []byte   // the sipp scenarios' key and salt, 30 bytes

	mu   sync.Mutex                       // guards the following fields
	keys map[uint16][]byte                // a Leadline leg's RTP port → its key and salt
	off  []int64                          // how far each file was read
	rx   map[netip.AddrPort]*srtp.Context // per Leadline leg; used by the one goroutine reading its socket

	tx       *srtp.Context // the send goroutine's
	hdr      rtp.Header
	failures atomic.Int64 // packets from Leadline that did not decrypt
}

func newSRTPLegs(files []string, answer string) (*srtpLegs, error) {
	key, err := base64.StdEncoding.DecodeString(answer)
	if err != nil || len(key) != 30 {
		return nil, errors.New("-srtp-key: want 30 bytes (key and salt) in base64")
	}
	tx, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		return nil, err
	}
	return &srtpLegs{files: files, off: make([]int64, len(files)), answer: key, keys: map[uint16][]byte{}, rx: map[netip.AddrPort]*srtp.Context{}, tx: tx}, nil
}

// learn makes the context for the Leadline leg at from, reading the keys files for its
// port; false while they do not name it yet (sipp writes it as it answers).
func (l *srtpLegs) learn(from netip.AddrPort) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rx[from] != nil {
		return true
	}
	key := l.keys[from.Port()]
	if key == nil {
		for i := range l.files {
			l.readLocked(i)
		}
		if key = l.keys[from.Port()]; key == nil {
			return false
		}
	}
	ctx, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.SRTPReplayProtection(128))
	if err != nil {
		return false
	}
	l.rx[from] = ctx
	return true
}

// readLocked reads the lines sipp appended to file i since the last read: "port key".
func (l *srtpLegs) readLocked(i int) {
	f, err := os.Open(l.files[i])
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(l.off[i], io.SeekStart); err != nil {
		return
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return // a partial line is read again next time
		}
		l.off[i] += int64(len(line))
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		port, err1 := strconv.Atoi(f[0])
		key, err2 := base64.StdEncoding.DecodeString(f[1])
		if err1 == nil && err2 == nil && len(key) == 30 && port > 0 && port < 65536 {
			l.keys[uint16(port)] = key
		}
	}
}

// decrypt decrypts a packet from the Leadline leg at from in place.
func (l *srtpLegs) decrypt(from netip.AddrPort, b []byte) ([]byte, bool) {
	l.mu.Lock()
	ctx := l.rx[from]
	l.mu.Unlock()
	if ctx == nil {
		return nil, false
	}
	var h rtp.Header
	out, err := ctx.DecryptRTP(b[:0], b, &h)
	if err != nil {
		l.failures.Add(1)
		return nil, false
	}
	return out, true
}

// encrypt encrypts the n-byte RTP packet at the start of buf in place (buf has room
// for the tag) and returns its new length. The send goroutine only.
func (l *srtpLegs) encrypt(buf []byte, n int) (int, error) {
	out, err := l.tx.EncryptRTP(buf[:n], buf[:n], &l.hdr)
	if err != nil {
		return 0, err
	}
	if &out[0] != &buf[0] {
		return 0, fmt.Errorf("srtp: no room for the tag")
	}
	return len(out), nil
}
