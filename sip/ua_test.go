package sip_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/media"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

func TestMain(m *testing.M) {
	// The torture and fuzz tests make sipgo log every packet it cannot parse through its
	// default logger; LEADLINE_TEST_LOG=1 shows them.
	if os.Getenv("LEADLINE_TEST_LOG") == "" {
		sipgosip.SetDefaultLogger(slog.New(slog.DiscardHandler))
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransactionLayer).clientTxTerminate"),
		// sipgo opens a UDP socket of its own (createConnection, read by readUDPConnection)
		// when a message must leave and its connection pool has none for the address:
		// only while a UA or test phone closes, as a request already read is answered
		// after the pool was emptied. Nobody closes that socket. UAs and phones send from
		// their listening socket otherwise, so this goroutine never appears in operation
		// (TestTortureMessages counts goroutines with the UA running).
		goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransportUDP).readUDPConnection"))
}

func newUA(t *testing.T, cfg sip.Config) *sip.UA {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.RTPPortMin == 0 {
		cfg.RTPPortMin, cfg.RTPPortMax = 30000, 39999
	}
	u, err := sip.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

func newPhone(t *testing.T, name string, b simphone.Behaviour) *simphone.Phone {
	t.Helper()
	p, err := simphone.NewPhone(name, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func tone(freq float64, d time.Duration) dialer.Audio {
	return dialer.Audio(media.Beep(freq, d))
}

func opts(kind dialer.LegKind) dialer.DialOpts {
	return dialer.DialOpts{LeadID: "0190abcd-lead", Kind: kind, CallerID: "+31201234567", DisplayName: "Lead Eva Jansen"}
}

func TestAnswerPlayAndDigits(t *testing.T) {
	for _, by := range []string{"rfc4733", "info", "inband"} {
		t.Run(by, func(t *testing.T) {
			u := newUA(t, sip.Config{})
			p := newPhone(t, "piet", simphone.Behaviour{Ring: 100 * time.Millisecond, Key: '1', KeyAfter: 600 * time.Millisecond, KeyBy: by})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			leg, err := u.Dial(ctx, p.URI(), opts(dialer.LegAgent))
			if err != nil {
				t.Fatal(err)
			}
			// The whisper reaches the phone while we wait for the key.
			go leg.Play(ctx, tone(440, 2*time.Second))
			select {
			case d := <-leg.Digits():
				if d != '1' {
					t.Errorf("digit %q, want '1'", d)
				}
			case <-ctx.Done():
				t.Fatal("no digit")
			}
			call := p.Calls()[0]
			if lvl := simphone.Level(call.Heard(), 440); lvl < 0.5 {
				t.Errorf("phone heard 440 Hz at level %.2f, want the whisper", lvl)
			}
			if got := call.Header("X-Leadline-Lead"); got != "0190abcd-lead" {
				t.Errorf("X-Leadline-Lead %q", got)
			}
			if from := call.Header("From"); !strings.HasPrefix(from, `"Lead Eva Jansen" <sip:+31201234567@`) {
				t.Errorf("From %q", from)
			}
			leg.Hangup(ctx)
			wait.For(t, 5*time.Second, "phone hung up by BYE", func() bool {
				select {
				case <-call.Done():
					return true
				default:
					return false
				}
			})
			if call.HungUpByPhone() {
				t.Error("phone should not have hung up itself")
			}
			wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
		})
	}
}

func TestRefusedAndUnanswered(t *testing.T) {
	u := newUA(t, sip.Config{})
	tests := []struct {
		name string
		b    simphone.Behaviour
		want error
		code int
	}{
		{"busy", simphone.Behaviour{Ring: 50 * time.Millisecond, Code: 486}, dialer.ErrBusy, 486},
		{"declined", simphone.Behaviour{Ring: 50 * time.Millisecond, Code: 603}, dialer.ErrRejected, 603},
		{"unavailable", simphone.Behaviour{Code: 480}, dialer.ErrNoAnswer, 480},
		{"never answers", simphone.Behaviour{Never: true}, context.DeadlineExceeded, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPhone(t, "kees", tt.b)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			leg, err := u.Dial(ctx, p.URI(), opts(dialer.LegAgent))
			if leg != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Dial = %v, %v; want %v", leg, err, tt.want)
			}
			var coded interface{ SIPCode() int }
			if tt.code != 0 && (!errors.As(err, &coded) || coded.SIPCode() != tt.code) {
				t.Errorf("code of %v, want %d", err, tt.code)
			}
			// A ring timeout cancels the phone's ringing.
			call := p.Calls()[0]
			wait.For(t, 5*time.Second, "call ended at the phone", func() bool {
				select {
				case <-call.Done():
					return true
				default:
					return false
				}
			})
			if call.Answered() {
				t.Error("phone answered")
			}
			wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
		})
	}
}

// Media crosses the bridge both ways, transcoded between PCMU and PCMA; a BYE on one
// side is seen on the leg.
func TestBridgeTranscodesBothWays(t *testing.T) {
	u := newUA(t, sip.Config{})
	agentPhone := newPhone(t, "anna", simphone.Behaviour{Tone: 1000, Codec: media.PCMU})
	custPhone := newPhone(t, "eva", simphone.Behaviour{Tone: 1500, Codec: media.PCMA, HangUp: 1500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	agent, err := u.Dial(ctx, agentPhone.URI(), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	cust, err := u.Dial(ctx, custPhone.URI(), opts(dialer.LegCustomer))
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Bridge(cust); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cust.Done():
		if !errors.Is(cust.Err(), dialer.ErrHungUp) {
			t.Errorf("customer leg ended with %v", cust.Err())
		}
	case <-ctx.Done():
		t.Fatal("customer BYE not seen")
	}
	a, c := agentPhone.Calls()[0].Heard(), custPhone.Calls()[0].Heard()
	if lvl := simphone.Level(a, 1500); lvl < 0.5 {
		t.Errorf("salesperson heard the customer at %.2f", lvl)
	}
	if lvl := simphone.Level(c, 1000); lvl < 0.5 {
		t.Errorf("customer heard the salesperson at %.2f", lvl)
	}
	agent.Hangup(ctx)
	wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
}

func TestEarlyMediaReachesSalesperson(t *testing.T) {
	u := newUA(t, sip.Config{})
	agentPhone := newPhone(t, "anna", simphone.Behaviour{})
	custPhone := newPhone(t, "eva", simphone.Behaviour{Never: true, EarlyMedia: true, Tone: 1500})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	agent, err := u.Dial(ctx, agentPhone.URI(), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Hangup(ctx)
	ringCtx, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	o := opts(dialer.LegCustomer)
	o.EarlyMedia = agent
	go agent.Play(ringCtx, tone(425, 2*time.Second)) // ringback, overridden by early media
	if _, err := u.Dial(ringCtx, custPhone.URI(), o); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial: %v", err)
	}
	heard := agentPhone.Calls()[0].Heard()
	if lvl := simphone.Level(heard, 1500); lvl < 0.3 {
		t.Errorf("early media at level %.2f", lvl)
	}
}

func TestDeadMediaEndsLeg(t *testing.T) {
	u := newUA(t, sip.Config{MediaTimeout: 300 * time.Millisecond})
	p := newPhone(t, "mute", simphone.Behaviour{Mute: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leg, err := u.Dial(ctx, p.URI(), opts(dialer.LegAgent))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-leg.Done():
		if !errors.Is(leg.Err(), dialer.ErrMediaTimeout) {
			t.Errorf("ended with %v", leg.Err())
		}
	case <-ctx.Done():
		t.Fatal("leg with dead media stayed up")
	}
	call := p.Calls()[0]
	wait.For(t, 5*time.Second, "BYE at the phone", func() bool {
		select {
		case <-call.Done():
			return true
		default:
			return false
		}
	})
}

func TestInboundRefusedOptionsAnswered(t *testing.T) {
	u := newUA(t, sip.Config{})
	c := newClient(t)
	target := sipgosip.Uri{Scheme: "sip", User: "leadline", Host: "127.0.0.1", Port: int(u.Addr().Port())}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for method, want := range map[sipgosip.RequestMethod]int{sipgosip.INVITE: 403, sipgosip.OPTIONS: 200, sipgosip.BYE: 481, sipgosip.INFO: 481} {
		req := sipgosip.NewRequest(method, target)
		if method == sipgosip.INVITE {
			req.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999}})
		}
		res, err := c.Do(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if res.StatusCode != want {
			t.Errorf("%s answered %d, want %d", method, res.StatusCode, want)
		}
	}
	if u.ActiveCalls() != 0 {
		t.Error("an inbound INVITE created a call")
	}
}
