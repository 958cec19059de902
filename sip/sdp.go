package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/leadline/leadline/sip/media"
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

// offerSDP is our session description: one audio stream offering PCMU, PCMA and
// telephone-event at 20 ms (RFC 3264 section 5). version grows with each change.
func offerSDP(host string, port int, sessionID, version uint64) []byte {
	ipv := "IP4"
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		ipv = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=leadline %d %d IN %s %s\r\ns=Leadline\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessionID, version, ipv, host, ipv, host)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d %d %d\r\n", port, ptPCMU, ptPCMA, ptEventOffer)
	fmt.Fprintf(&b, "a=rtpmap:%d PCMU/8000\r\na=rtpmap:%d PCMA/8000\r\n", ptPCMU, ptPCMA)
	fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", ptEventOffer, ptEventOffer)
	fmt.Fprintf(&b, "a=ptime:%d\r\na=sendrecv\r\n", ptimeMillis)
	return []byte(b.String())
}

// remoteMedia is what we take from the far end's SDP.
type remoteMedia struct {
	addr    netip.AddrPort
	codec   media.Codec
	eventPT int // -1 when the far end does not do telephone-event
}

var errNoCommonCodec = errors.New("sdp: no common codec (PCMU or PCMA)")

// parseAnswer reads an SDP answer (or an offer in a re-INVITE): the first audio stream,
// its address, the first of PCMU/PCMA it lists, and its telephone-event payload type.
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
		ip, err := netip.ParseAddr(host)
		if err != nil {
			ips, lerr := net.LookupIP(host)
			if lerr != nil || len(ips) == 0 {
				return rm, fmt.Errorf("sdp: connection address %q: %w", host, err)
			}
			ip, _ = netip.AddrFromSlice(ips[0])
		}
		port := md.MediaName.Port.Value
		if port <= 0 || port > 65535 {
			return rm, fmt.Errorf("sdp: bad media port %d", port)
		}
		rm.addr = netip.AddrPortFrom(ip.Unmap(), uint16(port))

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
