package sip_test

import (
	"context"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// packetsDuring counts the RTP packets call receives over d.
func packetsDuring(call *simphone.Call, d time.Duration) int {
	n := call.Packets()
	time.Sleep(d)
	return call.Packets() - n
}

// A carrier's re-INVITE or UPDATE (hold, resume, codec change, new address, refresh
// with and without SDP) is answered 200 with a matching answer, the call stays up, and
// Leadline's media follows what was agreed.
func TestReofferKeepsCallAndMediaFollows(t *testing.T) {
	tests := []struct {
		name   string
		offer  simphone.Reoffer
		answer []string // lines the 200's SDP must hold ("" for no SDP)
		pt     uint8    // payload type Leadline sends afterwards
		quiet  bool     // Leadline must stop sending
	}{
		{"hold sendonly", simphone.Reoffer{Direction: "sendonly"}, []string{"a=recvonly", " RTP/AVP 0 101"}, 0, true},
		{"hold inactive", simphone.Reoffer{Direction: "inactive"}, []string{"a=inactive"}, 0, true},
		{"codec change to PCMA", simphone.Reoffer{Codec: media.PCMA}, []string{"RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=sendrecv"}, 8, false},
		{"new media port", simphone.Reoffer{NewPort: true}, []string{"RTP/AVP 0 101"}, 0, false},
		{"re-INVITE without SDP", simphone.Reoffer{NoSDP: true, Codec: media.PCMA}, []string{"RTP/AVP 0 8 101"}, 8, false},
		{"UPDATE with SDP", simphone.Reoffer{Method: sipgosip.UPDATE, Codec: media.PCMA}, []string{"RTP/AVP 8 101"}, 8, false},
		{"UPDATE without SDP", simphone.Reoffer{Method: sipgosip.UPDATE, NoSDP: true}, nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUA(t, sip.Config{MediaTimeout: 400 * time.Millisecond})
			p := newPhone(t, "anna", simphone.Behaviour{Tone: 1000})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The phone answers PCMU; the re-offers with PCMA move both sides to it.
			leg, err := u.Dial(ctx, p.URI(), opts(dialer.LegAgent))
			if err != nil {
				t.Fatal(err)
			}
			defer leg.Hangup(ctx)
			playCtx, stopPlay := context.WithCancel(ctx)
			defer stopPlay()
			go leg.Play(playCtx, tone(440, 8*time.Second))
			call := p.Calls()[0]
			if n := packetsDuring(call, 200*time.Millisecond); n < 5 {
				t.Fatalf("phone received %d packets before the re-offer", n)
			}
			if tt.pt == 8 && call.PayloadTypes()[8] > 0 {
				t.Fatal("PCMA before the re-offer")
			}
			res, err := call.Reoffer(ctx, tt.offer)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				t.Fatalf("re-offer answered %d", res.StatusCode)
			}
			body := string(res.Body())
			if tt.answer == nil && body != "" {
				t.Errorf("answer without an offer carries SDP:\n%s", body)
			}
			for _, l := range tt.answer {
				if !strings.Contains(body, l+"\r\n") {
					t.Errorf("answer lacks %q:\n%s", l, body)
				}
			}
			// Leadline may send PCMA as soon as it accepts the offer, before its 200
			// arrives (RFC 3264 section 8: the offerer is ready for it).
			time.Sleep(100 * time.Millisecond) // packets in flight
			before := call.PayloadTypes()[tt.pt]
			n := packetsDuring(call, 800*time.Millisecond) // twice the dead-media limit
			switch {
			case tt.quiet && n > 2:
				t.Errorf("phone received %d packets while holding", n)
			case !tt.quiet && n < 30:
				t.Errorf("phone received %d packets in 800 ms after the re-offer", n)
			case !tt.quiet && call.PayloadTypes()[tt.pt]-before < 30:
				t.Errorf("Leadline sends payload types %v, want %d", call.PayloadTypes(), tt.pt)
			}
			select {
			case <-leg.Done():
				t.Fatalf("call ended: %v", leg.Err())
			default:
			}
			if tt.quiet { // resume
				if res, err := call.Reoffer(ctx, simphone.Reoffer{}); err != nil || res.StatusCode != 200 {
					t.Fatalf("resume: %v %v", res, err)
				}
				if n := packetsDuring(call, 300*time.Millisecond); n < 10 {
					t.Errorf("phone received %d packets after resuming", n)
				}
			}
		})
	}
}
