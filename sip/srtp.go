package sip

import (
	"errors"
	"strings"

	"github.com/pion/srtp/v3"
)

// SRTP on a leg (RFC 3711), keyed by SDES (sdes.go). The relay decrypts what a leg
// receives with the far end's key and encrypts what it sends with ours: each leg has
// its own two contexts, so the legs of a bridge never share a key, and a packet is
// authenticated before anything looks at it: the latch (rtpsource.go), the dead-media
// watch, the RFC 4733 decoder, the tone detector and the relay see only packets that
// passed. One that fails authentication or replay protection is dropped and counted
// (leadline_rtp_dropped_total{reason="auth"}). SRTCP: we send no RTCP and read none:
// RTCP goes to the odd port above the RTP port, where nothing listens; an RTCP packet
// on the RTP port of an SRTP leg (RFC 5761 section 4 tells it by its packet type) is
// dropped as payload_type without counting as live media, for only authenticated
// packets prove that the far end is there.

// dropAuth: an SRTP leg's packet that did not authenticate (a wrong or tampered tag, a
// replay, too short to hold a tag, an unknown MKI).
const dropAuth = "auth"

// srtpIn is how a leg decrypts what the far end sends: its key and the context made
// from it. Only the leg's media loop uses ctx (srtp.Context is not safe for concurrent
// use); a new key replaces the whole value.
type srtpIn struct {
	crypto sdesCrypto
	ctx    *srtp.Context
}

var (
	errNoSRTPAnswer = errors.New("sdp: srtp required but the answer has no usable key (a=crypto " + cryptoSuite + ")")
	errNoSRTPOffer  = errors.New("sdp: srtp in use or required but the offer has no usable key (a=crypto " + cryptoSuite + ")")
	errSRTPOff      = errors.New("sdp: the offer wants secure RTP, and srtp is off for this call")
)

// answerProto is the transport protocol of our answer: the offer's (RFC 3264 section
// 6), among those we speak.
func answerProto(offer string) string {
	for _, p := range []string{"RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF"} {
		if strings.EqualFold(offer, p) {
			return p
		}
	}
	return "RTP/AVP"
}

// offerSec is what our offers say about SRTP, by the leg's policy: nothing (off),
// RTP/AVP with our key (optional, RFC 8643), RTP/SAVP with it (required,
// RFC 4568 section 7.1.1).
func (c *Call) offerSec() mediaSec {
	switch c.srtp {
	case srtpOptional:
		return mediaSec{crypto: sdesCrypto{tag: offerTag, key: c.media.txKey}.attribute()}
	case srtpRequired:
		return mediaSec{proto: "RTP/SAVP", crypto: sdesCrypto{tag: offerTag, key: c.media.txKey}.attribute()}
	}
	return mediaSec{}
}

// answerSRTP reads the far end's answer to our offer: its key for our offer's tag, or
// nil for plain RTP (RFC 4568 section 7.1.3). An answer without a key is refused when
// SRTP is required, or when the leg uses SRTP already (no falling back mid-call).
func (c *Call) answerSRTP(rm remoteMedia) (*sdesCrypto, error) {
	if c.srtp == srtpOff {
		return nil, nil
	}
	for _, cr := range rm.cryptos {
		if cr.tag == offerTag {
			return &cr, nil
		}
	}
	if c.srtp == srtpRequired || c.media.secure() {
		return nil, errNoSRTPAnswer
	}
	return nil, nil
}

// offerSRTP reads the far end's offer (a re-INVITE or UPDATE): the key we take from it
// (the first usable one, RFC 4568 section 7.1.2), or nil for plain RTP, and what our
// answer says (its protocol, and our key with the offer's tag). An offer we cannot
// answer gets 488: secure RTP while srtp is off, or no usable key while it is required
// or in use, or an SRTP line whose keys we cannot use.
func (c *Call) offerSRTP(rm remoteMedia) (*sdesCrypto, mediaSec, error) {
	sec := mediaSec{proto: answerProto(rm.proto)}
	switch {
	case c.srtp == srtpOff && rm.savp:
		return nil, sec, errSRTPOff
	case c.srtp == srtpOff:
		return nil, sec, nil // a key on RTP/AVP (RFC 8643) is ignored: plain RTP
	case len(rm.cryptos) == 0 && (rm.savp || c.srtp == srtpRequired || c.media.secure()):
		return nil, sec, errNoSRTPOffer
	case len(rm.cryptos) == 0:
		return nil, sec, nil
	}
	cr := rm.cryptos[0]
	sec.crypto = sdesCrypto{tag: cr.tag, key: c.media.txKey}.attribute()
	return &cr, sec, nil
}

// applyAnswer switches the leg's SRTP as the far end's answer to our offer says
// (answerSRTP), before its address is applied.
func (c *Call) applyAnswer(rm remoteMedia) error {
	in, err := c.answerSRTP(rm)
	if err != nil {
		return err
	}
	return c.media.useSRTP(in)
}

// answerError is an answer (a 2xx) whose SDP we refused: no common codec, no SRTP key
// when one is required. The far end answered: the leg is hung up, and the call is not
// tried on another trunk.
type answerError struct{ err error }

func (e *answerError) Error() string { return "answer: " + e.err.Error() }
func (e *answerError) Unwrap() error { return e.err }

// initSRTP gives the stream our key and its context, before the offer that carries it.
func (s *stream) initSRTP() error {
	k, err := newMasterKey()
	if err != nil {
		return err
	}
	ctx, err := encryptContext(k)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.txKey, s.txCtx = k, ctx
	s.mu.Unlock()
	return nil
}

// useSRTP switches the stream to SRTP with the far end's key in (nil: plain RTP both
// ways). The far end's context is kept when the key is the same (RFC 4568 section
// 7.1.4: a re-offer repeating it), so that its rollover counter and replay window
// carry on.
func (s *stream) useSRTP(in *sdesCrypto) error {
	if in == nil {
		s.srtpIn.Store(nil)
		s.mu.Lock()
		s.tx = nil
		s.mu.Unlock()
		return nil
	}
	if cur := s.srtpIn.Load(); cur == nil || !cur.crypto.sameKey(*in) {
		ctx, err := decryptContext(*in)
		if err != nil {
			return err
		}
		s.srtpIn.Store(&srtpIn{crypto: *in, ctx: ctx})
	}
	s.mu.Lock()
	s.tx = s.txCtx
	s.mu.Unlock()
	return nil
}

// secure reports whether the leg uses SRTP now.
func (s *stream) secure() bool { return s.srtpIn.Load() != nil }

// isRTCP reports whether a datagram on an RTP port is RTCP: its second octet is a
// packet type in 192-223 (RFC 5761 section 4).
func isRTCP(b []byte) bool { return len(b) > 1 && b[1] >= 192 && b[1] <= 223 }
