package dialer_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/dialer/dialertest"
)

// devices is a dialer.Devices with fixed answers, counting its look-ups.
type devices struct {
	mu      sync.Mutex
	byID    map[string][]dialer.Device
	err     error
	lookups []string
}

func (d *devices) Devices(_ context.Context, dealer, person string) ([]dialer.Device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups = append(d.lookups, dealer+"/"+person)
	return d.byID[person], d.err
}

// newDeviceEnv is newEnv with sanne, whose softphones register, first in the flow
// before the owner.
func newDeviceEnv(t *testing.T, scripts map[string]dialertest.Script, devs dialer.Devices) *env {
	t.Helper()
	e := &env{
		store: dialertest.NewStore(), caller: dialertest.NewCaller(scripts),
		speaker: &dialertest.Speaker{}, rec: &recorder{},
	}
	e.svc = dialer.New(dialer.Options{
		Store: e.store, Archive: e.store, Caller: e.caller, Speaker: e.speaker, Recorder: e.rec, NodeID: "node-a",
		Ringback: make(dialer.Audio, 8000), Devices: devs,
	})
	d := testDealer()
	d.People["sanne"] = dialer.Person{ID: "sanne", Name: "Sanne", Registered: true}
	d.Flow = []dialer.Step{{People: []string{"sanne"}}, {People: []string{"owner"}}}
	e.svc.SetDealers([]dialer.Dealer{d})
	return e
}

const (
	laptop = "sip:sanne-laptop@10.0.0.5:5060"
	mobile = "sip:sanne-mobile@192.168.1.20:5062;transport=tcp"
)

var sanneDevices = []dialer.Device{
	{ID: "b1", Target: laptop, Route: "udp:203.0.113.7:40112", UserAgent: "baresip"},
	{ID: "b2", Target: mobile, Route: "tcp:198.51.100.9:51000", UserAgent: "Linphone"},
}

// TestRegisteredDevicesRingAtOnce: both of a registered person's devices ring at once,
// each over its registration's route; the first to press 1 wins and the other is
// canceled. Each leg is an attempt of the person.
func TestRegisteredDevicesRingAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		devs := &devices{byID: map[string][]dialer.Device{"sanne": sanneDevices}}
		e := newDeviceEnv(t, map[string]dialertest.Script{
			laptop:   {Ring: 2 * time.Second, Press: '1', After: 8 * time.Second},
			mobile:   {Ring: 3 * time.Second, Press: '1', After: 2 * time.Second},
			customer: answers,
		}, devs)
		l := e.wait(t, e.submit(t, dialer.LeadInput{Phone: customer, Name: "Eva"}).ID)
		if l.Status != dialer.StatusCompleted {
			t.Fatalf("status %s: %s", l.Status, l.Reason)
		}
		if got, want := results(l), []string{"agent:sanne:canceled", "agent:sanne:accepted", "customer:sanne:answered"}; !slices.Equal(got, want) {
			t.Errorf("attempts %q, want %q", got, want)
		}
		calls := e.caller.Calls()
		if len(calls) != 3 {
			t.Fatalf("%d calls, want 3", len(calls))
		}
		routes := map[string]string{}
		var started []time.Time
		for _, c := range calls[:2] {
			routes[c.Target] = c.Opts.Route
		}
		for _, a := range l.Attempts[:2] {
			started = append(started, a.StartedAt)
		}
		if routes[laptop] != "udp:203.0.113.7:40112" || routes[mobile] != "tcp:198.51.100.9:51000" {
			t.Errorf("routes %q", routes)
		}
		if !started[0].Equal(started[1]) {
			t.Errorf("the devices were not rung at once: %v", started)
		}
		if laptopLeg := calls[0].Leg; laptopLeg == nil || !laptopLeg.HungUpByUs() {
			t.Error("the device that lost was not hung up")
		}
	})
}

// TestRegisteredWithoutDevice: a registered person with no device registered (or whose
// devices cannot be looked up) gets a failed attempt, and the flow goes on.
func TestRegisteredWithoutDevice(t *testing.T) {
	for _, tt := range []struct {
		name string
		devs dialer.Devices
	}{
		{"none registered", &devices{}},
		{"look-up fails", &devices{byID: map[string][]dialer.Device{"sanne": sanneDevices}, err: errors.New("store down")}},
		{"no Devices port", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newDeviceEnv(t, map[string]dialertest.Script{"sip:owner@192.0.2.13": accepts, customer: answers}, tt.devs)
				l := e.wait(t, e.submit(t, dialer.LeadInput{Phone: customer}).ID)
				if got, want := results(l), []string{"agent:sanne:failed", "agent:owner:accepted", "customer:owner:answered"}; !slices.Equal(got, want) {
					t.Errorf("attempts %q, want %q", got, want)
				}
				for _, c := range e.caller.Calls() {
					if c.Target != "sip:owner@192.0.2.13" && c.Target != customer {
						t.Errorf("dialled %q", c.Target)
					}
				}
			})
		})
	}
}
