package sip_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/internal/wait"
	"github.com/leadline/leadline/simphone"
	"github.com/leadline/leadline/sip"
)

// leadline_bridges_active goes up once when two legs are bridged and down once when the
// bridge ends, whichever leg ends first and however: it reads 1 during the call and 0
// after, never -1 (issue 14, item 6: each leg's end used to count the bridge as ended).
func TestBridgesActiveGauge(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(agent, cust dialer.Leg)
	}{
		{"customer hangs up, then the salesperson's leg", func(agent, cust dialer.Leg) {
			<-cust.Done() // the customer's phone sends BYE
			_ = agent.Hangup(context.Background())
		}},
		{"both legs hung up at once", func(agent, cust dialer.Leg) {
			var wg sync.WaitGroup
			wg.Go(func() { _ = agent.Hangup(context.Background()) })
			wg.Go(func() { _ = cust.Hangup(context.Background()) })
			wg.Wait()
		}},
		{"bridged twice, then hung up", func(agent, cust dialer.Leg) {
			if err := agent.Bridge(cust); err != nil {
				t.Error(err)
			}
			_ = cust.Hangup(context.Background())
			_ = agent.Hangup(context.Background())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newMetrics(t)
			u := newUA(t, sip.Config{Observer: m})
			agentPhone := newPhone(t, "anna", simphone.Behaviour{Tone: 1000})
			custB := simphone.Behaviour{Tone: 1500}
			if tc.name == "customer hangs up, then the salesperson's leg" {
				custB.HangUp = 300 * time.Millisecond
			}
			custPhone := newPhone(t, "eva", custB)
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
			if got := metricValue(t, reg, "leadline_bridges_active"); got != 1 {
				t.Errorf("leadline_bridges_active %v while bridged, want 1", got)
			}
			tc.end(agent, cust)
			wait.For(t, 5*time.Second, "no calls left", func() bool { return u.ActiveCalls() == 0 })
			if got := metricValue(t, reg, "leadline_bridges_active"); got != 0 {
				t.Errorf("leadline_bridges_active %v after the call, want 0", got)
			}
			for _, leg := range []string{"agent", "customer"} {
				if got := metricValue(t, reg, "leadline_calls_active", "leg", leg); got != 0 {
					t.Errorf("leadline_calls_active{leg=%q} %v after the call, want 0", leg, got)
				}
			}
		})
	}
}
