package sip

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SRTP keys exchanged in the SDP (SDES, RFC 4568): each side puts the master key it
// sends with into its a=crypto attribute, so a leg has two keys, ours (one per leg,
// from crypto/rand, for what we send) and the far end's (for what it sends). Only the
// AES_CM_128_HMAC_SHA1_80 suite (RFC 4568 section 6.2.1: AES counter mode, 128-bit key,
// 80-bit HMAC-SHA1 tag) is offered and accepted. The keys travel in the SIP message:
// only TLS on the signalling keeps them secret (RFC 4568 section 8.1), which is why
// `leadline check` warns about SRTP over anything else. No key is ever logged: a key
// formats as "[srtp master key]", and errors never quote an a=crypto line.
//
// A leg's policy (Config per trunk, DialOpts.SRTP per person's phone):
//   - off: RTP/AVP without a=crypto, as before SRTP existed.
//   - required: our offer is RTP/SAVP with a=crypto (RFC 4568 section 7.1.1); an
//     answer without a usable a=crypto for it ends the call (ACK and BYE), and a
//     re-offer without one is refused 488.
//   - optional: opportunistic SRTP (RFC 8643): our offer is RTP/AVP with a=crypto, which
//     a peer that does not know SDES ignores; SRTP is used when the answer carries a
//     key, plain RTP when it does not. Once a leg uses SRTP it never falls back: a
//     re-offer without a key is refused 488.

// srtpMode is a leg's SRTP policy.
type srtpMode uint8

const (
	srtpOff srtpMode = iota
	srtpOptional
	srtpRequired
)

// parseSRTPMode reads "off", "optional" or "required" ("": off).
func parseSRTPMode(s string) (srtpMode, error) {
	switch strings.ToLower(s) {
	case "", "off":
		return srtpOff, nil
	case "optional":
		return srtpOptional, nil
	case "required":
		return srtpRequired, nil
	}
	return srtpOff, fmt.Errorf("sip: unknown srtp mode %q (off, optional or required)", s)
}

func (m srtpMode) String() string { return [...]string{"off", "optional", "required"}[m] }

const (
	cryptoSuite = "AES_CM_128_HMAC_SHA1_80"
	// offerTag is the tag of the one a=crypto of our offers (RFC 4568 section 9.1); an
	// answer names it for the key it chose.
	offerTag = 1
	// replayWindow is how far back an SRTP packet may come (RFC 3711 section 3.3.2).
	replayWindow = 128
)

var srtpProfile = srtp.ProtectionProfileAes128CmHmacSha1_80

// masterKey is an SRTP master key followed by its master salt (RFC 3711 section 3.2.1):
// 16 and 14 bytes for cryptoSuite. It never prints.
type masterKey [16 + 14]byte

func (masterKey) String() string               { return "[srtp master key]" }
func (masterKey) GoString() string             { return "[srtp master key]" }
func (masterKey) LogValue() slog.Value         { return slog.StringValue("[srtp master key]") }
func (k *masterKey) split() (key, salt []byte) { return k[:16], k[16:] }

// newMasterKey is a new random key and salt.
func newMasterKey() (masterKey, error) {
	var k masterKey
	_, err := rand.Read(k[:])
	return k, err
}

// sdesCrypto is an a=crypto attribute we can use: its tag, the key and salt inline,
// and the master key identifier its packets carry, if any.
type sdesCrypto struct {
	tag int
	key masterKey
	mki []byte
}

// String describes c without its key.
func (c sdesCrypto) String() string {
	return fmt.Sprintf("{crypto tag %d, mki %d bytes}", c.tag, len(c.mki))
}

// attribute is the value of our a=crypto with this tag and key: no lifetime, no MKI,
// no session parameter (RFC 4568 section 9.1).
func (c sdesCrypto) attribute() string {
	return strconv.Itoa(c.tag) + " " + cryptoSuite + " inline:" + base64.StdEncoding.EncodeToString(c.key[:])
}

// sameKey reports whether two attributes carry the same key and MKI: the far end
// keeps its crypto context (RFC 4568 section 7.1.4).
func (c sdesCrypto) sameKey(o sdesCrypto) bool {
	return c.key == o.key && string(c.mki) == string(o.mki)
}

// errCryptoUnusable is why an a=crypto attribute was not taken. It never holds the
// attribute.
var errCryptoUnusable = errors.New("sdp: a=crypto not usable")

// parseCrypto reads an a=crypto value (RFC 4568 section 9.1):
//
//	tag 1*WSP crypto-suite 1*WSP "inline:" key-salt ["|" lifetime] ["|" mki ":" length] *(1*WSP session-param)
//
// It takes cryptoSuite only, with exactly one key (several inline keys need MKIs and
// key changes we do not do) and no session parameter (RFC 4568 section 6.3: an
// unknown one makes the attribute unusable; the known ones, UNENCRYPTED_SRTP and the
// like, weaken what we promise). A lifetime is accepted and not enforced: a call ends
// at max_call_length, long before 2^31 packets. The error never quotes v.
func parseCrypto(v string) (sdesCrypto, error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return sdesCrypto{}, errCryptoUnusable
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 || len(f[0]) > 9 {
		return sdesCrypto{}, errCryptoUnusable
	}
	if f[1] != cryptoSuite {
		return sdesCrypto{}, errCryptoUnusable
	}
	params, ok := strings.CutPrefix(f[2], "inline:")
	if !ok || strings.Contains(params, ";") {
		return sdesCrypto{}, errCryptoUnusable
	}
	parts := strings.Split(params, "|")
	if len(parts) > 3 {
		return sdesCrypto{}, errCryptoUnusable
	}
	c := sdesCrypto{tag: tag}
	raw, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil || len(raw) != len(c.key) {
		return sdesCrypto{}, errCryptoUnusable
	}
	copy(c.key[:], raw)
	clear(raw)
	for _, p := range parts[1:] {
		if value, length, isMKI := strings.Cut(p, ":"); isMKI {
			if c.mki != nil {
				return sdesCrypto{}, errCryptoUnusable
			}
			if c.mki = parseMKI(value, length); c.mki == nil {
				return sdesCrypto{}, errCryptoUnusable
			}
			continue
		}
		if !validLifetime(p) {
			return sdesCrypto{}, errCryptoUnusable
		}
	}
	return c, nil
}

// parseMKI reads an MKI ("value:length", decimal value in length bytes, 1 to 128), as
// the bytes its packets carry; nil when it is not one.
func parseMKI(value, length string) []byte {
	n, err := strconv.Atoi(length)
	if err != nil || n < 1 || n > 128 || len(value) == 0 || len(value) > 20 {
		return nil
	}
	v, err := strconv.ParseUint(value, 10, 64)
	if err != nil || (n < 8 && v >= 1<<(8*n)) {
		return nil
	}
	mki := make([]byte, n)
	for i := n - 1; i >= 0 && v > 0; i-- {
		mki[i] = byte(v)
		v >>= 8
	}
	return mki
}

// validLifetime reports whether s is a key lifetime: decimal, or "2^" and a power.
func validLifetime(s string) bool {
	s = strings.TrimPrefix(s, "2^")
	if s == "" || len(s) > 20 {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// decryptContext is a crypto context for what the far end sends with c's key, with
// replay protection (RFC 3711 section 3.3.2).
func decryptContext(c sdesCrypto) (*srtp.Context, error) {
	key, salt := c.key.split()
	opts := []srtp.ContextOption{srtp.SRTPReplayProtection(replayWindow)}
	if c.mki != nil {
		opts = append(opts, srtp.MasterKeyIndicator(c.mki))
	}
	return srtp.CreateContext(key, salt, srtpProfile, opts...)
}

// encryptContext is a crypto context for what we send with our key k.
func encryptContext(k masterKey) (*srtp.Context, error) {
	key, salt := k.split()
	return srtp.CreateContext(key, salt, srtpProfile)
}
