package sip

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 3261 section 22.4 digest, what every softphone speaks
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/icholy/digest"
)

// Digest authentication of REGISTER as a UAS (RFC 3261 section 22.4, on RFC 2617 and
// RFC 7616; algorithms per RFC 8760). The challenge does not depend on the user: its
// nonce is made from the time and a secret of this process (nonces), so that it can be
// checked without keeping one per request, and it says nothing about whether a user
// exists.

// realm is the protection space of Leadline's registrar (RFC 7616 section 3.3): the
// same for every user and node, so that a phone moving between nodes is not asked
// anew.
const realm = "leadline"

// Digest algorithms that verify (RFC 8760); only MD5 is offered (Registrar.challenge).
const (
	algSHA256 = "SHA-256"
	algMD5    = "MD5"
)

// nonceTTL is how long a nonce may be used; a phone whose nonce is older is challenged
// again with stale=true (RFC 7616 section 3.3), without counting as a failure.
const nonceTTL = 5 * time.Minute

// nonces makes and checks nonces: 8 bytes of time, 8 random bytes and a 16-byte HMAC of
// both with a key of this process, base64url. A node that restarts, or another node,
// does not recognise the nonce and challenges again. It remembers the highest nonce
// count accepted with each nonce still valid, so that a request seen on the wire
// cannot be replayed (RFC 7616 section 3.4.5).
type nonces struct {
	key [32]byte
	now func() time.Time

	mu   sync.Mutex        // guards used
	used map[string]uint64 // nonce → highest nc accepted; pruned as nonces expire
}

func newNonces(now func() time.Time) *nonces {
	n := &nonces{now: now, used: map[string]uint64{}}
	_, _ = rand.Read(n.key[:])
	return n
}

func (n *nonces) mac(b []byte) []byte {
	m := hmac.New(sha256.New, n.key[:])
	m.Write(b)
	return m.Sum(nil)[:16]
}

// make returns a fresh nonce.
func (n *nonces) make() string {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b, uint64(n.now().UnixNano()))
	_, _ = rand.Read(b[8:16])
	copy(b[16:], n.mac(b[:16]))
	return base64.RawURLEncoding.EncodeToString(b)
}

// check says whether nonce is one of ours (ok) and, if so, whether it is too old
// (stale).
func (n *nonces) check(nonce string) (ok, stale bool) {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 32 || !hmac.Equal(b[16:], n.mac(b[:16])) {
		return false, false
	}
	made := time.Unix(0, int64(binary.BigEndian.Uint64(b)))
	age := n.now().Sub(made)
	return true, age < -time.Minute || age > nonceTTL
}

// fresh records that nc was accepted with nonce, and reports false when it was not
// higher than every count accepted with that nonce before (a replay). Without qop
// there is no count (nc 0): such a nonce is good once.
func (n *nonces) fresh(nonce string, nc uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if last, seen := n.used[nonce]; seen && nc <= last {
		return false
	}
	if len(n.used) > 4096 {
		for k := range n.used {
			if ok, stale := n.check(k); !ok || stale {
				delete(n.used, k)
			}
		}
	}
	n.used[nonce] = nc
	return true
}

// challenge is a WWW-Authenticate value for algorithm alg.
func challenge(nonce, alg string, stale bool) string {
	c := digest.Challenge{Realm: realm, Nonce: nonce, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
	return c.String()
}

// credentials are the parts of an Authorization header the registrar checks.
type credentials struct {
	user, realm, nonce, uri, response, alg, qop, cnonce string
	nc                                                  uint64
}

// parseCredentials reads a Digest Authorization value (RFC 3261 section 25.1,
// "credentials"); ok is false for anything else or a value missing a required part.
func parseCredentials(value string) (credentials, bool) {
	c, err := digest.ParseCredentials(strings.TrimSpace(value))
	if err != nil || c.Username == "" || c.Nonce == "" || c.Response == "" || c.URI == "" {
		return credentials{}, false
	}
	out := credentials{user: c.Username, realm: c.Realm, nonce: c.Nonce, uri: c.URI, response: strings.ToLower(c.Response),
		alg: c.Algorithm, qop: c.QOP, cnonce: c.Cnonce, nc: uint64(c.Nc)}
	if out.alg == "" {
		out.alg = algMD5 // RFC 7616 section 3.4: absent means MD5
	}
	if out.qop != "" && (out.qop != "auth" || out.cnonce == "" || out.nc == 0) {
		return credentials{}, false
	}
	return out, true
}

// hasher returns the hash of a supported algorithm, or nil.
func hasher(alg string) func() hash.Hash {
	switch {
	case strings.EqualFold(alg, algSHA256):
		return sha256.New
	case strings.EqualFold(alg, algMD5):
		return md5.New
	}
	return nil
}

// valid reports whether c's response proves password for method (RFC 7616 section
// 3.4.1; RFC 2069's form when c has no qop), in constant time.
func (c credentials) valid(method, password string) bool {
	newHash := hasher(c.alg)
	if newHash == nil {
		return false
	}
	h := func(parts ...string) string {
		hh := newHash()
		hh.Write([]byte(strings.Join(parts, ":")))
		return hex.EncodeToString(hh.Sum(nil))
	}
	ha1 := h(c.user, c.realm, password)
	ha2 := h(method, c.uri)
	var want string
	if c.qop == "" {
		want = h(ha1, c.nonce, ha2)
	} else {
		want = h(ha1, c.nonce, fmt.Sprintf("%08x", c.nc), c.cnonce, c.qop, ha2)
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(c.response)) == 1
}
