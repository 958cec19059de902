package sip_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// SRTP with SDES keys (RFC 4568) towards trunks and phones: simulated peers that answer
// with keys of their own (simphone.Behaviour.SRTP) or know no SRTP.

// dropObserver counts RTP drops by reason.
type dropObserver struct {
	mu    sync.Mutex
	drops map[string]int
}

func (o *dropObserver) CallStarted(string)      {}
func (o *dropObserver) CallEnded(string)        {}
func (o *dropObserver) BridgeStarted()          {}
func (o *dropObserver) BridgeEnded()            {}
func (o *dropObserver) SIPResponse(string, int) {}
func (o *dropObserver) RTPPacket(string)        {}
func (o *dropObserver) RTPDropped(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.drops == nil {
		o.drops = map[string]int{}
	}
	o.drops[reason]++
}

func (o *dropObserver) count(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.drops[reason]
}

var cryptoRE = regexp.MustCompile(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:([A-Za-z0-9+/=]{40})\r\n`)

// offerKey is the key of our offer in an INVITE, or "".
func offerKey(c *simphone.Call) string {
	if m := cryptoRE.FindStringSubmatch(string(c.Invite.Body())); m != nil {
		return m[1]
	}
	return ""
}

// bridged dials agent (with agentSRTP) and the customer (through the UA's trunk) and
// bridges them; it returns the agent phone's call and the two legs.
func bridged(t *testing.T, u *sip.UA, agent *simphone.Phone, agentSRTP string) (*simphone.Call, [2]dialer.Leg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := opts(dialer.LegAgent)
	o.SRTP = agentSRTP
	a, err := u.Dial(ctx, agent.URI(), o)
	if err != nil {
		t.Fatalf("dial the salesperson: %v", err)
	}
	t.Cleanup(func() { _ = a.Hangup(context.Background()) })
	c, err := u.Dial(ctx, number, opts(dialer.LegCustomer))
	if err != nil {
		t.Fatalf("dial the customer: %v", err)
	}
	t.Cleanup(func() { _ = c.Hangup(context.Background()) })
	if err := a.Bridge(c); err != nil {
		t.Fatal(err)
	}
	return agent.Calls()[len(agent.Calls())-1], [2]dialer.Leg{a, c}
}

// TestTrunkSRTPRequired: a trunk with srtp: required offers RTP/SAVP with a key; a
// carrier that answers with its own key gets SRTP, and so does a salesperson's phone
// with srtp: required. Bridged, each hears the other through the relay, which decrypts
// with one leg's far end's key and encrypts with the other leg's own; the two legs'
// keys differ.
func TestTrunkSRTPRequired(t *testing.T) {
	carrierPhone, tr := carrier(t, "carrier", simphone.Behaviour{SRTP: true, Tone: 1500})
	tr.SRTP = "required"
	u := newUA(t, sip.Config{Trunks: []sip.Trunk{tr}})
	agent := newPhone(t, "anna", simphone.Behaviour{SRTP: true, Tone: 1000})
	agentCall, _ := bridged(t, u, agent, "required")
	custCall := carrierPhone.Calls()[0]
	for name, c := range map[string]*simphone.Call{"salesperson": agentCall, "customer": custCall} {
		body := string(c.Invite.Body())
		if !strings.Contains(body, "m=audio ") || !strings.Contains(body, " RTP/SAVP 0 8 101\r\n") || offerKey(c) == "" {
			t.Errorf("%s: the offer is not RTP/SAVP with a key:\n%s", name, body)
		}
		if !c.SRTP() {
			t.Errorf("%s: the call does not use SRTP", name)
		}
	}
	if offerKey(agentCall) == offerKey(custCall) {
		t.Error("both legs offered the same key")
	}
	wait.For(t, 5*time.Second, "audio both ways", func() bool { return len(agentCall.Heard()) > 8000 && len(custCall.Heard()) > 8000 })
	a, c := agentCall.Heard(), custCall.Heard()
	if lvl := simphone.Level(a[len(a)-4000:], 1500); lvl < 0.5 {
		t.Errorf("the salesperson hears the customer at %.2f", lvl)
	}
	if lvl := simphone.Level(c[len(c)-4000:], 1000); lvl < 0.5 {
		t.Errorf("the customer hears the salesperson at %.2f", lvl)
	}
	if n := agentCall.UndecryptedPackets() + custCall.UndecryptedPackets(); n != 0 {
		t.Errorf("%d packets from Leadline did not decrypt", n)
	}

	// The carrier re-offers with the same key: the call keeps its SRTP and its audio.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res, err := custCall.Reoffer(ctx, simphone.Reoffer{}); err != nil || res.StatusCode != 200 || !strings.Contains(string(res.Body()), "a=crypto:1 ") {
		t.Fatalf("re-offer with the same key: %v %v", res, err)
	}
	before := len(agentCall.Heard())
	wait.For(t, 5*time.Second, "audio after the re-offer", func() bool { return len(agentCall.Heard()) > before+4000 })
	// A re-offer without a key, to fall back to plain RTP, is refused.
	if res, err := custCall.Reoffer(ctx, simphone.Reoffer{PlainRTP: true}); err != nil || res.StatusCode != 488 {
		t.Errorf("re-offer without a key: %v %v, want 488", res, err)
	}
}

// TestTrunkSRTPRequiredRefusesPlainAnswer: a carrier that answers a required offer
// without a key (it knows no SRTP) gets an ACK and a BYE at once; the call fails with
// the reason, and is not tried on the next trunk: the customer picked up.
func TestTrunkSRTPRequiredRefusesPlainAnswer(t *testing.T) {
	plain, tr := carrier(t, "plain", simphone.Behaviour{Tone: 1500})
	tr.SRTP = "required"
	backup, t2 := carrier(t, "backup", simphone.Behaviour{})
	u := newUA(t, sip.Config{Trunks: []sip.Trunk{tr, t2}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, number, opts(dialer.LegCustomer))
	if err == nil {
		leg.Hangup(ctx)
		t.Fatal("a plain answer to an SRTP offer was taken")
	}
	if !strings.Contains(err.Error(), "srtp required but the answer has no usable key") || trunkOf(nil, err) != "plain" {
		t.Errorf("Dial: %v", err)
	}
	c := plain.Calls()[0]
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("the answered call was not hung up")
	}
	if c.HungUpByPhone() {
		t.Error("the carrier hung up: Leadline should have")
	}
	if n := len(backup.Calls()); n != 0 {
		t.Errorf("the next trunk got %d calls for a customer who picked up", n)
	}
	wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
}

// TestTrunkSRTPOptional: optional offers RTP/AVP with a key (RFC 8643); a carrier that
// knows no SRTP ignores it and the call goes on in plain RTP, audio both ways; one that
// answers with a key gets SRTP.
func TestTrunkSRTPOptional(t *testing.T) {
	for _, srtp := range []bool{false, true} {
		name := "plain carrier"
		if srtp {
			name = "srtp carrier"
		}
		t.Run(name, func(t *testing.T) {
			carrierPhone, tr := carrier(t, "carrier", simphone.Behaviour{SRTP: srtp, Tone: 1500})
			tr.SRTP = "optional"
			u := newUA(t, sip.Config{Trunks: []sip.Trunk{tr}})
			agent := newPhone(t, "anna", simphone.Behaviour{Tone: 1000})
			agentCall, _ := bridged(t, u, agent, "")
			custCall := carrierPhone.Calls()[0]
			if body := string(custCall.Invite.Body()); !strings.Contains(body, " RTP/AVP 0 8 101\r\n") || offerKey(custCall) == "" {
				t.Errorf("the offer is not RTP/AVP with a key:\n%s", body)
			}
			if body := string(agentCall.Invite.Body()); strings.Contains(body, "a=crypto") {
				t.Errorf("the salesperson's offer (srtp off) has a key:\n%s", body)
			}
			if custCall.SRTP() != srtp {
				t.Errorf("the customer's call uses SRTP: %v, want %v", custCall.SRTP(), srtp)
			}
			wait.For(t, 5*time.Second, "audio both ways", func() bool { return len(agentCall.Heard()) > 8000 && len(custCall.Heard()) > 8000 })
			a, c := agentCall.Heard(), custCall.Heard()
			if lvl := simphone.Level(a[len(a)-4000:], 1500); lvl < 0.5 {
				t.Errorf("the salesperson hears the customer at %.2f", lvl)
			}
			if lvl := simphone.Level(c[len(c)-4000:], 1000); lvl < 0.5 {
				t.Errorf("the customer hears the salesperson at %.2f", lvl)
			}
		})
	}
}

// TestSRTPTamperedFromFarEnd: a far end whose every packet has a bad tag (what a forger
// without the key sends, from the far end's own address) is heard by nobody: its
// packets are dropped and counted as auth, the other leg gets no audio from them, and
// its key press is never read.
func TestSRTPTamperedFromFarEnd(t *testing.T) {
	obs := &dropObserver{}
	carrierPhone, tr := carrier(t, "carrier", simphone.Behaviour{SRTP: true, TamperSRTP: true, Tone: 1500})
	tr.SRTP = "required"
	u := newUA(t, sip.Config{Trunks: []sip.Trunk{tr}, Observer: obs})
	agent := newPhone(t, "anna", simphone.Behaviour{Tone: 1000})
	agentCall, legs := bridged(t, u, agent, "")
	custCall := carrierPhone.Calls()[0]
	wait.For(t, 5*time.Second, "the customer to hear the salesperson", func() bool { return len(custCall.Heard()) > 8000 })
	if !custCall.SRTP() || obs.count("auth") < 25 {
		t.Fatalf("srtp %v, %d auth drops", custCall.SRTP(), obs.count("auth"))
	}
	if h := agentCall.Heard(); simphone.Level(h, 1500) > 0.01 {
		t.Errorf("the salesperson hears the tampered customer's tone at %.2f", simphone.Level(h, 1500))
	}
	select {
	case d := <-legs[1].Digits():
		t.Errorf("digit %q", d)
	default:
	}
}
