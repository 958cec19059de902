package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/leadline/leadline/media"
)

// Payload types of the offer (RFC 3551 static types; 101 is the usual dynamic choice for
// telephone-event, RFC 4733 section 7.1.1).
const (
	ptPCMU        = 0
	ptPCMA        = 8
	ptEventOffer  = 101
	ptimeMillis   = 20
	samplesPerPkt = 8000 * ptimeMillis / 1000
)

// direction is an SDP stream's direction attribute (RFC 3264 section 5.1), from the point
// of view of the side that wrote it.
type direction uint8

const (
	sendrecv direction = iota
	sendonly
	recvonly
	inactive
)

func (d direction) String() string {
	return [...]string{"sendrecv", "sendonly", "recvonly", "inactive"}[d]
}

// answer is the direction an answerer puts against an offer's (RFC 3264 section 6.1).
func (d direction) answer() direction {
	switch d {
	case sendonly:
		return recvonly
	case recvonly:
		return sendonly
	}
	return d
}

// sends and receives tell what the side that wrote d will do.
func (d direction) sends() bool    { return d == sendrecv || d == sendonly }
func (d direction) receives() bool { return d == sendrecv || d == recvonly }

// mediaSec is what our SDP says about SRTP (sdes.go): the m= line's transport protocol
// and our a=crypto.
type mediaSec struct {
	proto  string // "RTP/AVP" when empty; "RTP/SAVP" for SRTP required
	crypto string // our a=crypto value ("1 AES_CM_128_HMAC_SHA1_80 inline:…"), or none
}

func (m mediaSec) protocol() string {
	if m.proto == "" {
		return "RTP/AVP"
	}
	return m.proto
}

// localSDP is our offer (answerTo nil: one audio stream offering PCMU, PCMA and
// telephone-event at 20 ms, RFC 3264 section 5) or our answer to the far end's offer: the codec
// chosen from it, its telephone-event payload type if it has one, and the direction
// that answers its own (RFC 3264 section 6.1). sec names the transport protocol and
// our SRTP key (RFC 4568 section 9.1), if any.
func localSDP(host string, port int, sessionID, version uint64, answerTo *remoteMedia, sec mediaSec) []byte {
	ipv := "IP4"
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		ipv = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=leadline %d %d IN %s %s\r\ns=Leadline\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, version, ipv, host, ipv, host)
	proto := sec.protocol()
	crypto := func() {
		if sec.crypto != "" {
			fmt.Fprintf(&b, "a=crypto:%s\r\n", sec.crypto)
		}
	}
	if answerTo == nil {
		fmt.Fprintf(&b, "m=audio %d %s %d %d %d\r\n", port, proto, ptPCMU, ptPCMA, ptEventOffer)
		fmt.Fprintf(&b, "a=rtpmap:%d PCMU/8000\r\na=rtpmap:%d PCMA/8000\r\n", ptPCMU, ptPCMA)
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", ptEventOffer, ptEventOffer)
		crypto()
		fmt.Fprintf(&b, "a=ptime:%d\r\na=sendrecv\r\n", ptimeMillis)
		return []byte(b.String())
	}
	pt := answerTo.codec.PayloadType()
	if answerTo.eventPT >= 0 {
		fmt.Fprintf(&b, "m=audio %d %s %d %d\r\n", port, proto, pt, answerTo.eventPT)
	} else {
		fmt.Fprintf(&b, "m=audio %d %s %d\r\n", port, proto, pt)
	}
	fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", pt, answerTo.codec)
	if answerTo.eventPT >= 0 {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", answerTo.eventPT, answerTo.eventPT)
	}
	crypto()
	fmt.Fprintf(&b, "a=ptime:%d\r\na=%s\r\n", ptimeMillis, answerTo.dir.answer())
	return []byte(b.String())
}

// remoteMedia is what we take from the far end's SDP.
type remoteMedia struct {
	addr    netip.AddrPort
	codec   media.Codec
	eventPT int       // -1 when the far end does not do telephone-event
	dir     direction // the far end's: sendonly means it puts us on hold
	// proto is the m= line's transport protocol ("RTP/AVP", "RTP/SAVP"…); savp: it is
	// secure RTP (SAVP, SAVPF, DTLS's UDP/TLS/RTP/SAVP), which we cannot answer plainly.
	proto string
	savp  bool
	// cryptos are the a=crypto attributes we can use, in the SDP's order (sdes.go).
	cryptos []sdesCrypto
}

// String describes rm without its keys: a key in an unexported field would be printed
// raw by %v.
func (rm remoteMedia) String() string {
	return fmt.Sprintf("{%v %v event %d %v %s, %d srtp keys}", rm.addr, rm.codec, rm.eventPT, rm.dir, rm.protoOrAVP(), len(rm.cryptos))
}

func (rm remoteMedia) protoOrAVP() string {
	if rm.proto == "" {
		return "RTP/AVP"
	}
	return rm.proto
}

var errNoCommonCodec = errors.New("sdp: no common codec (PCMU or PCMA)")

// parseAnswer reads an SDP answer (or an offer in a re-INVITE): the first audio stream,
// its address, the first of PCMU/PCMA it lists, its telephone-event payload type and its
// direction. The connection address 0.0.0.0 (RFC 2543 hold) counts as inactive.
func parseAnswer(body []byte) (remoteMedia, error) {
	rm := remoteMedia{eventPT: -1}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return rm, fmt.Errorf("sdp: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		if md.MediaName.Port.Value == 0 {
			return rm, errors.New("sdp: audio stream rejected (port 0)")
		}
		conn := md.ConnectionInformation
		if conn == nil {
			conn = sd.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return rm, errors.New("sdp: no connection address")
		}
		host := conn.Address.Address
		if i := strings.IndexByte(host, '/'); i >= 0 { // multicast TTL suffix
			host = host[:i]
		}
		// An IP address: a host name would have us resolve whatever a peer names, in
		// the call path. Carriers and phones put addresses here.
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return rm, fmt.Errorf("sdp: connection address %q: %w", host, err)
		}
		port := md.MediaName.Port.Value
		if port <= 0 || port > 65535 {
			return rm, fmt.Errorf("sdp: bad media port %d", port)
		}
		rm.addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))
		rm.proto = strings.Join(md.MediaName.Protos, "/")
		rm.savp = strings.Contains(strings.ToUpper(rm.proto), "SAVP")
		rm.dir = streamDirection(sd.Attributes, md.Attributes)
		if ip.IsUnspecified() {
			rm.dir = inactive
		}

		found := false
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			switch {
			case !found && pt == ptPCMU:
				rm.codec, found = media.PCMU, true
			case !found && pt == ptPCMA:
				rm.codec, found = media.PCMA, true
			}
		}
		for _, a := range md.Attributes {
			if a.Key == "crypto" {
				// RFC 4568 on RTP/SAVP, or RFC 8643's opportunistic SRTP on RTP/AVP;
				// not on DTLS-SRTP's UDP/TLS/RTP/SAVP, whose keys come otherwise.
				if c, err := parseCrypto(a.Value); err == nil && strings.HasPrefix(strings.ToUpper(rm.proto), "RTP/") {
					rm.cryptos = append(rm.cryptos, c)
				}
				continue
			}
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, ok := strings.Cut(a.Value, " ")
			if !ok || !strings.HasPrefix(strings.ToLower(enc), "telephone-event/8000") {
				continue
			}
			if n, err := strconv.Atoi(pt); err == nil && n >= 96 && n <= 127 {
				rm.eventPT = n
			}
		}
		if !found {
			return rm, errNoCommonCodec
		}
		return rm, nil
	}
	return rm, errors.New("sdp: no audio stream")
}

// streamDirection is the media-level direction attribute, else the session-level one,
// else sendrecv (RFC 3264 section 5.1).
func streamDirection(session, stream []sdp.Attribute) direction {
	for _, attrs := range [][]sdp.Attribute{stream, session} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv":
				return sendrecv
			case "sendonly":
				return sendonly
			case "recvonly":
				return recvonly
			case "inactive":
				return inactive
			}
		}
	}
	return sendrecv
}
