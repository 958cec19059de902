package media

import "time"

// RFC 4733 §3 DTMF event codes: 0-9, then *, #, A-D.
const eventDigits = "0123456789*#ABCD"

// EventDigit maps an RFC 4733 DTMF event code (0-15) to its key: '0'-'9',
// '*', '#', 'A'-'D'. Other codes (flash, tones) report false.
func EventDigit(code uint8) (rune, bool) {
	if code >= uint8(len(eventDigits)) {
		return 0, false
	}
	return rune(eventDigits[code]), true
}

// EventCode maps a key ('0'-'9', '*', '#', 'A'-'D', or 'a'-'d') to its
// RFC 4733 event code.
func EventCode(digit rune) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return uint8(digit - '0'), true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return uint8(digit-'A') + 12, true
	case digit >= 'a' && digit <= 'd':
		return uint8(digit-'a') + 12, true
	}
	return 0, false
}

// Event is one decoded RFC 4733 §2.3 telephone-event payload.
type Event struct {
	Code     uint8  // event code; 0-15 are DTMF keys
	End      bool   // E bit: this is (a retransmission of) the final packet
	Volume   uint8  // power level in -dBm0, 0-63
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

// ParseEvent decodes the first four bytes of a telephone-event payload.
// It reports false when the payload is shorter than four bytes.
func ParseEvent(payload []byte) (Event, bool) {
	if len(payload) < 4 {
		return Event{}, false
	}
	return Event{
		Code:     payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3F,
		Duration: uint16(payload[2])<<8 | uint16(payload[3]),
	}, true
}

// EventDecoder turns a stream of RFC 4733 telephone-event payloads into key
// presses, each reported exactly once.
//
// RFC 4733 §2.5.1 identifies an event by its RTP timestamp: every packet of
// one key press (the first, the updates and the usually three retransmitted
// end packets) carries the timestamp of the moment the key went down. The
// decoder therefore reports a key on the first packet it sees with a new
// (timestamp, event) pair, whatever that packet's duration (sipp's
// dtmf_2833_1.pcap starts with duration 0) or E bit (the start packets may
// be lost), and ignores the rest. It remembers the last few events so a late
// retransmission of an earlier press is not reported again, and treats the
// next segment of a press longer than the 16-bit duration field
// (RFC 4733 §2.5.1, long-duration events) as the same press.
//
// The zero value is ready to use. Call Reset when the RTP stream restarts
// (new SSRC). An EventDecoder must not be used from more than one goroutine.
type EventDecoder struct {
	recent [4]eventKey // ring of recently seen events
	n      int         // valid entries in recent
	next   int         // next slot in recent to overwrite

	// last reported event, for long-event segments
	last      eventKey
	lastDur   uint16
	lastEnded bool
}

type eventKey struct {
	ts   uint32
	code uint8
}

// Feed processes the payload of one telephone-event RTP packet with its RTP
// timestamp. It returns the key and true the first time a press is seen;
// repeats, end packets and non-DTMF events (codes above 15) return false.
// Payloads shorter than four bytes are ignored. Feed never panics and does
// not allocate.
func (d *EventDecoder) Feed(payload []byte, timestamp uint32) (digit rune, ok bool) {
	ev, ok := ParseEvent(payload)
	if !ok {
		return 0, false
	}
	digit, ok = EventDigit(ev.Code)
	if !ok {
		return 0, false
	}
	key := eventKey{ts: timestamp, code: ev.Code}
	if d.seen(key) {
		if d.n > 0 && key == d.last {
			d.lastDur = max(d.lastDur, ev.Duration)
			d.lastEnded = d.lastEnded || ev.End
		}
		return 0, false
	}
	// RFC 4733 §2.5.1, long-duration events: a press longer than 0xFFFF timestamp units goes on in
	// a new segment whose timestamp is the old one plus the old duration. The
	// old segment has no E bit and a duration near the maximum.
	cont := d.n > 0 && ev.Code == d.last.code && !d.lastEnded &&
		d.lastDur >= 0xF000 && timestamp-d.last.ts >= 0xF000 &&
		timestamp-d.last.ts <= uint32(d.lastDur)+4*SampleRate/10
	d.recent[d.next] = key
	d.next = (d.next + 1) % len(d.recent)
	d.n = min(d.n+1, len(d.recent))
	d.last, d.lastDur, d.lastEnded = key, ev.Duration, ev.End
	if cont {
		return 0, false
	}
	return digit, true
}

// Reset forgets all events, as after an SSRC change.
func (d *EventDecoder) Reset() { *d = EventDecoder{} }

func (d *EventDecoder) seen(k eventKey) bool {
	for i := range d.n {
		if d.recent[i] == k {
			return true
		}
	}
	return false
}

// EncodeEvent appends a four-byte RFC 4733 telephone-event payload for digit
// to dst. volume is the power level in -dBm0 and is capped at 63; duration is
// in RTP timestamp units (8 per millisecond at 8 kHz). For a character that
// is not a DTMF key it returns dst unchanged.
func EncodeEvent(dst []byte, digit rune, end bool, volume uint8, duration uint16) []byte {
	code, ok := EventCode(digit)
	if !ok {
		return dst
	}
	b1 := min(volume, 63)
	if end {
		b1 |= 0x80
	}
	return append(dst, code, b1, byte(duration>>8), byte(duration))
}

// EventVolume is the power level EventPackets puts in its payloads: 10
// (-10 dBm0), a common phone default.
const EventVolume = 10

// EventPacket is one RTP packet of a key press produced by EventPackets.
//
// To send it, a test phone builds an rtp.Packet with the negotiated
// telephone-event payload type, the next sequence number (every packet,
// including each retransmitted end packet, takes a new one), Marker as given,
// and Timestamp = start + TimestampOffset, where start is the audio stream's
// RTP timestamp at the moment the key went down. All packets of one press
// share that timestamp; TimestampOffset is non-zero only for the later
// segments of a press longer than 8.19 s. It sends the packet Offset after
// the first one, and afterwards resumes audio at timestamp start + total.
type EventPacket struct {
	Payload         []byte        // 4-byte telephone-event payload
	Marker          bool          // RTP marker bit: set on the first packet of the press
	TimestampOffset uint32        // add to the press's start timestamp
	Offset          time.Duration // send time relative to the first packet
}

// EventPackets returns the packet sequence a phone sends for one key press
// held for total, with one update every ptime (RFC 4733 §2.5.1): a first
// packet with the marker bit and duration ptime, updates with growing
// duration, and the final packet, with the E bit and the full duration, sent
// three times. A press longer than 0xFFFF timestamp units is split into
// segments (long-duration events), each closed by one packet of duration
// 0xFFFF without the E bit. total is clamped to one minute. EventPackets
// returns nil for a character that is not a DTMF key or a non-positive ptime
// or total.
func EventPackets(digit rune, ptime, total time.Duration) []EventPacket {
	if _, ok := EventCode(digit); !ok || ptime <= 0 || total <= 0 {
		return nil
	}
	step := max(units(min(ptime, time.Minute)), 1)
	end := max(units(min(total, time.Minute)), 1)
	payload := func(end bool, dur uint32) []byte {
		return EncodeEvent(make([]byte, 0, 4), digit, end, EventVolume, uint16(dur))
	}
	var pkts []EventPacket
	var seg uint32 // start of the current segment, in units since the key went down
	for tick := uint32(0); ; tick++ {
		elapsed := min((tick+1)*step, end)
		at := time.Duration(tick) * ptime
		for elapsed-seg > 0xFFFF {
			pkts = append(pkts, EventPacket{Payload: payload(false, 0xFFFF), TimestampOffset: seg, Offset: at})
			seg += 0xFFFF
		}
		last := elapsed == end
		p := EventPacket{Payload: payload(last, elapsed-seg), Marker: tick == 0, TimestampOffset: seg, Offset: at}
		pkts = append(pkts, p)
		if last {
			p.Marker = false
			for range 2 {
				p.Offset += ptime
				pkts = append(pkts, p)
			}
			return pkts
		}
	}
}

// units converts d to 8 kHz RTP timestamp units.
func units(d time.Duration) uint32 {
	return uint32(d * SampleRate / time.Second)
}
