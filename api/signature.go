package api

// Signed webhooks: a CRM may sign each POST /v1/leads with a secret it shares with the
// dealer, so that a leaked API key alone cannot post leads, and a captured request
// cannot be sent again.
//
//	X-Leadline-Timestamp: 1795773600                  (unix seconds)
//	X-Leadline-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Signature headers and rules.
const (
	HeaderTimestamp = "X-Leadline-Timestamp"
	HeaderSignature = "X-Leadline-Signature"
	// SignatureWindow is how far a signed timestamp may be from the server's clock.
	SignatureWindow = 300 * time.Second
	signaturePrefix = "sha256="
	// maxSeen bounds the replay cache: signatures seen within the last two windows.
	maxSeen = 100_000
)

// Sign returns the X-Leadline-Signature value of body sent at ts with secret.
func Sign(secret []byte, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(ts.Unix(), 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

func badSignature(detail string) error {
	return &requestError{
		status: http.StatusUnauthorized,
		kind:   "invalid-signature",
		title:  "Invalid signature",
		detail: detail + " Nothing was stored. See the signing rules in the API documentation (Signed webhooks).",
		header: map[string]string{"WWW-Authenticate": `Bearer realm="leadline"`},
	}
}

// verifySignature checks a lead post's signature for dealer d. It returns a func that
// forgets the signature again (call it when the lead could not be stored, so that the
// sender may retry the very same request), or an invalid-signature error. A dealer
// without webhook secrets accepts unsigned posts only.
func (s *server) verifySignature(r *http.Request, d *DealerAccess, body []byte) (forget func(), err error) {
	tss, sigs := r.Header.Values(HeaderTimestamp), r.Header.Values(HeaderSignature)
	switch {
	case len(d.WebhookSecrets) == 0 && (len(tss) > 0 || len(sigs) > 0):
		return nil, badSignature("The request is signed, but the dealer has no webhook_secrets to check it with; " +
			"configure the secret or stop signing.")
	case len(d.WebhookSecrets) == 0:
		return func() {}, nil
	case len(tss) == 0 && len(sigs) == 0 && d.RequireSignature:
		return nil, badSignature(fmt.Sprintf("This dealer accepts only signed leads: send %s and %s.", HeaderTimestamp, HeaderSignature))
	case len(tss) == 0 && len(sigs) == 0:
		return func() {}, nil
	case len(tss) != 1 || len(sigs) != 1:
		return nil, badSignature(fmt.Sprintf("Send %s and %s once each.", HeaderTimestamp, HeaderSignature))
	}
	ts, sig := strings.TrimSpace(tss[0]), strings.TrimSpace(sigs[0])
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(ts) > 12 || strings.HasPrefix(ts, "+") || strings.HasPrefix(ts, "-") {
		return nil, badSignature(HeaderTimestamp + " must be the time of signing in unix seconds, such as 1795773600.")
	}
	now := s.now()
	if skew := now.Sub(time.Unix(secs, 0)); skew > SignatureWindow || skew < -SignatureWindow {
		return nil, badSignature(fmt.Sprintf("%s is %d s away from the server's clock; at most %d s are allowed. "+
			"Sign each request when sending it, with the current time.", HeaderTimestamp, int64(skew.Abs().Seconds()), int64(SignatureWindow.Seconds())))
	}
	hexSig, ok := strings.CutPrefix(strings.ToLower(sig), signaturePrefix)
	got, err := hex.DecodeString(hexSig)
	if !ok || err != nil || len(got) != sha256.Size {
		return nil, badSignature(HeaderSignature + ` must be "sha256=" and 64 hex digits.`)
	}
	valid := false
	for _, secret := range d.WebhookSecrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts))
		mac.Write([]byte("."))
		mac.Write(body)
		if hmac.Equal(mac.Sum(nil), got) {
			valid = true
		}
	}
	if !valid {
		return nil, badSignature("The signature does not match the body and timestamp: sign exactly the bytes sent, " +
			`as HMAC-SHA256 of timestamp + "." + body with the dealer's webhook secret.`)
	}
	key := d.Dealer + "\x00" + hexSig
	if !s.seen.add(key, now) {
		return nil, badSignature("This signature was used before: a request is accepted once. " +
			"Sign every request, retries included, with a fresh timestamp; an Idempotency-Key keeps a retry from creating a second lead.")
	}
	return func() { s.seen.forget(key) }, nil
}

// replayCache remembers the signatures accepted within the last two signature
// windows (a signature is valid for a window either side of its timestamp). It holds
// at most maxSeen; beyond that the oldest are forgotten first. Each node has its own:
// across nodes, Idempotency-Key and external_id catch a repeat.
type replayCache struct {
	mu    sync.Mutex           // guards the following fields
	seen  map[string]time.Time // signature key → when it expires
	order []seenEntry          // insertion order, for expiry and the bound
	max   int
}

type seenEntry struct {
	key     string
	expires time.Time
}

func newReplayCache(max int) *replayCache {
	return &replayCache{seen: map[string]time.Time{}, max: max}
}

// add records key at now; false when it is there already and unexpired.
func (c *replayCache) add(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.order) > 0 && (len(c.order) >= c.max || !c.order[0].expires.After(now)) {
		e := c.order[0]
		c.order = c.order[1:]
		if c.seen[e.key].Equal(e.expires) {
			delete(c.seen, e.key)
		}
	}
	if exp, ok := c.seen[key]; ok && exp.After(now) {
		return false
	}
	exp := now.Add(2 * SignatureWindow)
	c.seen[key] = exp
	c.order = append(c.order, seenEntry{key, exp})
	return true
}

// forget removes key, so that the same signed request may be sent again.
func (c *replayCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, key)
}

// size is the number of signatures remembered.
func (c *replayCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
