package dialer

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// A person whose phone is `registered` has no fixed address: their softphone apps (a
// laptop, a mobile) register to Leadline, and a flow rings every device registered at
// that moment, each as a leg of its own, whispered and gated like a member of a ring
// group: the first to press 1 wins and the others are canceled. Each leg is an attempt
// of the person. The Devices port says which devices there are; the sip registrar
// implements it.

// Device is one of a registered person's phones that can be rung now: one softphone's
// registration.
type Device struct {
	// ID names the registration, for logs.
	ID string
	// Target is what Caller.Dial takes to reach the device: the SIP URI the app
	// registered as its Contact.
	Target string
	// Route is where the requests of the device's calls are sent instead of Target's
	// host ("udp:203.0.113.7:40112"): the address and transport its registration came
	// from, which is the only way into a phone behind NAT. Empty: to Target itself.
	Route string
	// UserAgent is what the app calls itself, for logs ("baresip v1.0.0 …").
	UserAgent string
}

// ErrNoDevice is why a registered person's leg failed when none of their devices was
// registered: the attempt is recorded as failed.
var ErrNoDevice = errors.New("no registered device")

// expand turns a step's registered people into one entry per device, each a leg of its
// own, so that the step rings them at once (ring); a registered person with no device
// stays, once, for their attempt to record that (ErrNoDevice). Others are left as they
// are.
func (f *flow) expand(ctx context.Context, people []Person) []Person {
	var out []Person
	for _, p := range people {
		if !p.Registered {
			out = append(out, p)
			continue
		}
		var devs []Device
		if f.s.devices != nil {
			var err error
			if devs, err = f.s.devices.Devices(ctx, f.d.ID, p.ID); err != nil {
				f.log.Warn("looking up registered devices", "person", p.ID, "error", err)
				devs = nil
			}
		}
		if len(devs) == 0 {
			out = append(out, p)
			continue
		}
		for i := range devs {
			q := p
			q.device = &devs[i]
			out = append(out, q)
		}
	}
	return out
}

// dial rings one salesperson's leg: their phone, or the one device expand gave the
// entry.
func (f *flow) dial(ctx context.Context, p Person, o DialOpts) (Leg, error) {
	o.SRTP = p.SRTP
	switch {
	case !p.Registered:
		return f.s.caller.Dial(ctx, p.Phone, o)
	case p.device == nil:
		return nil, ErrNoDevice
	}
	o.Route = p.device.Route
	return f.s.caller.Dial(ctx, p.device.Target, o)
}

// logDevice adds the device a leg rings to its log lines.
func (p Person) logDevice(log *slog.Logger) *slog.Logger {
	if p.device == nil {
		return log
	}
	return log.With("device", p.device.ID, "user_agent", p.device.UserAgent)
}

// Binding is one softphone's registration (RFC 3261 section 10): which device of which
// person can be reached where, until when. The sip registrar writes them into a store
// that every node shares, so that a restart keeps them; it is the registrar's record,
// and Devices turns the ones this node can reach into Device values.
type Binding struct {
	ID     string // made by the registrar; names the device in logs
	User   string // the SIP user name the device signed in with
	Dealer string
	Person string
	// Key tells the user's devices apart: the Contact's +sip.instance (RFC 5626
	// section 4.1) when it has one, else the Contact URI (RFC 3261 section 10.3).
	Key       string
	Contact   string // the Contact URI as registered
	Source    string // "ip:port" the REGISTER came from
	Transport string // "udp", "tcp" or "tls", as the REGISTER came
	// Node is the node that took the REGISTER: a device behind NAT can be reached only
	// through that node's socket.
	Node      string
	CallID    string // of the REGISTER, with CSeq: a binding is only replaced in order
	CSeq      uint32
	UserAgent string
	Expires   time.Time
	Updated   time.Time
}
