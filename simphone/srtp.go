package simphone

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// A phone with Behaviour.SRTP answers SDES keys (RFC 4568): it takes the first
// AES_CM_128_HMAC_SHA1_80 key of the offer to decrypt what it receives, and answers with
// a key of its own, from crypto/rand, under the offer's tag, for what it sends.

const testSuite = "AES_CM_128_HMAC_SHA1_80"

// offered is what an offer says about SRTP: its m= line's protocol and its first key of
// testSuite (nil: none), with that key's tag.
type offered struct {
	proto string
	tag   int
	key   []byte // master key and salt, 30 bytes
}

// readOffer reads the SRTP of an offer's audio stream.
func readOffer(md *sdp.MediaDescription) offered {
	o := offered{proto: strings.Join(md.MediaName.Protos, "/")}
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			continue
		}
		f := strings.Fields(a.Value)
		if len(f) < 3 || f[1] != testSuite {
			continue
		}
		tag, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		inline, ok := strings.CutPrefix(f[2], "inline:")
		if !ok {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(strings.Split(inline, "|")[0])
		if err != nil || len(key) != 30 {
			continue
		}
		o.tag, o.key = tag, key
		return o
	}
	return o
}

// srtpLeg is a call's SRTP: the context that decrypts Leadline's packets and the one
// that encrypts the phone's, with the phone's own key.
type srtpLeg struct {
	tag    int
	own    []byte
	mu     sync.Mutex // guards rx and tx (a re-offer may read on two sockets for a while)
	rx, tx *srtp.Context
	tamper bool
	failed int // packets that did not decrypt
	hdr    rtp.Header
}

func newSRTPLeg(o offered) (*srtpLeg, error) {
	own := make([]byte, 30)
	if _, err := rand.Read(own); err != nil {
		return nil, err
	}
	rx, err := srtp.CreateContext(o.key[:16], o.key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80, srtp.SRTPReplayProtection(128))
	if err != nil {
		return nil, err
	}
	tx, err := srtp.CreateContext(own[:16], own[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		return nil, err
	}
	return &srtpLeg{tag: o.tag, own: own, rx: rx, tx: tx}, nil
}

// attribute is the phone's a=crypto line in its answer.
func (l *srtpLeg) attribute() string {
	return "a=crypto:" + strconv.Itoa(l.tag) + " " + testSuite + " inline:" + base64.StdEncoding.EncodeToString(l.own) + "\r\n"
}

func (l *srtpLeg) decrypt(b []byte) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, err := l.rx.DecryptRTP(nil, b, &l.hdr)
	if err != nil {
		l.failed++
	}
	return out, err
}

func (l *srtpLeg) encrypt(b []byte) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, err := l.tx.EncryptRTP(nil, b, &l.hdr)
	if err != nil {
		return b
	}
	if l.tamper {
		out[len(out)-1] ^= 0x01
	}
	return out
}

// protect encrypts an RTP packet the phone sends when the call uses SRTP.
func (c *Call) protect(b []byte) []byte {
	c.mu.Lock()
	leg := c.srtp
	c.mu.Unlock()
	if leg == nil {
		return b
	}
	return leg.encrypt(b)
}

// SRTP reports whether the call uses SRTP (the phone answered a key).
func (c *Call) SRTP() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.srtp != nil
}

// UndecryptedPackets is how many packets did not decrypt (a wrong key, tampering).
func (c *Call) UndecryptedPackets() int {
	c.mu.Lock()
	leg := c.srtp
	c.mu.Unlock()
	if leg == nil {
		return 0
	}
	leg.mu.Lock()
	defer leg.mu.Unlock()
	return leg.failed
}
