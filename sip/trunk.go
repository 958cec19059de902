package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/leadline/leadline/dialer"
)

// This file holds the trunks: the carriers numbers are dialled through, tried in order,
// and what each one wants to see in an INVITE (transport, outbound proxy, the caller id
// asserted in P-Asserted-Identity or P-Preferred-Identity, privacy). Registration is in
// register.go.

// Trunk is a carrier that numbers are dialled through. cmd fills it from the
// configuration (sip.trunk, sip.trunks).
type Trunk struct {
	// Name labels the trunk in logs, metrics and attempts; default the URI's host.
	Name string
	// URI is where numbers go: "sip:carrier.example[:port][;transport=tcp]" or "sips:…";
	// the number becomes its user part.
	URI      string
	Username string
	Password string
	// Register keeps the account (Username at the URI's host) registered (register.go);
	// while it is not, the trunk is skipped. RegisterExpires is the lifetime asked for
	// (default one hour).
	Register        bool
	RegisterExpires time.Duration
	// Transport is "udp", "tcp" or "tls"; empty: the URI's transport parameter, else
	// UDP (TLS for sips:). TLS connections verify the carrier's certificate against the
	// system's roots and the URI's (or the proxy's) host name.
	Transport string
	// SRTP is the media encryption of calls through the trunk (sdes.go): "" or "off",
	// "optional" (RFC 8643), "required" (RFC 4568).
	SRTP string
	// CallerIDHeader asserts the caller id besides From: "pai" (P-Asserted-Identity) or
	// "ppi" (P-Preferred-Identity), RFC 3325 section 9; "" or "from": From only.
	CallerIDHeader string
	// OutboundProxy is a SIP URI every request to the trunk goes through: it is put in
	// a Route header as a loose router (RFC 3261 sections 8.1.2 and 16.12).
	OutboundProxy string
}

// trunk is a Trunk parsed.
type trunk struct {
	Trunk
	uri       sip.Uri  // the URI, with its transport parameter; User is set per call
	transport string   // "UDP", "TCP" or "TLS", as sipgo names them
	route     *sip.Uri // the outbound proxy with lr, or nil
	identity  string   // "P-Asserted-Identity", "P-Preferred-Identity" or ""
	srtp      srtpMode
	reg       *registration
}

// trunkResponseTimeout is how long a trunk with another one after it may stay silent
// after an INVITE (not even 100 Trying, RFC 3261 section 8.2.6.1 wants one within 200
// ms) before the next trunk is tried.
const trunkResponseTimeout = 5 * time.Second

// newTrunk checks and parses a configured trunk.
func newTrunk(t Trunk) (*trunk, error) {
	tr := &trunk{Trunk: t}
	if err := sip.ParseUri(t.URI, &tr.uri); err != nil {
		return nil, fmt.Errorf("sip: trunk uri %q: %w", t.URI, err)
	}
	scheme := strings.ToLower(tr.uri.Scheme)
	if scheme != "sip" && scheme != "sips" {
		return nil, fmt.Errorf("sip: trunk uri %q: not a sip: or sips: URI", t.URI)
	}
	if tr.Name == "" {
		tr.Name = tr.uri.Host
	}
	param := ""
	if tr.uri.UriParams != nil {
		param, _ = tr.uri.UriParams.Get("transport")
	}
	transport := strings.ToLower(t.Transport)
	switch {
	case transport == "" && param != "":
		transport = strings.ToLower(param)
	case transport == "" && scheme == "sips":
		transport = "tls"
	case transport == "":
		transport = "udp"
	}
	switch transport {
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("sip: trunk %s: unknown transport %q", tr.Name, transport)
	}
	if scheme == "sips" && transport != "tls" {
		return nil, fmt.Errorf("sip: trunk %s: a sips: URI needs tls, not %s", tr.Name, transport)
	}
	tr.transport = strings.ToUpper(transport)
	if param == "" && transport != "udp" && scheme == "sip" {
		// In the Request-URI, so that the carrier sees how to reach us as we reach it.
		if tr.uri.UriParams == nil {
			tr.uri.UriParams = sip.NewParams()
		}
		tr.uri.UriParams.Add("transport", transport)
	}
	if t.OutboundProxy != "" {
		var p sip.Uri
		if err := sip.ParseUri(t.OutboundProxy, &p); err != nil {
			return nil, fmt.Errorf("sip: trunk %s: outbound proxy %q: %w", tr.Name, t.OutboundProxy, err)
		}
		if p.UriParams == nil {
			p.UriParams = sip.NewParams()
		}
		p.UriParams.Add("lr", "")
		tr.route = &p
	}
	switch strings.ToLower(t.CallerIDHeader) {
	case "", "from":
	case "pai":
		tr.identity = "P-Asserted-Identity"
	case "ppi":
		tr.identity = "P-Preferred-Identity"
	default:
		return nil, fmt.Errorf("sip: trunk %s: unknown caller id header %q", tr.Name, t.CallerIDHeader)
	}
	var err error
	if tr.srtp, err = parseSRTPMode(t.SRTP); err != nil {
		return nil, fmt.Errorf("sip: trunk %s: %w", tr.Name, err)
	}
	if tr.RegisterExpires <= 0 {
		tr.RegisterExpires = time.Hour
	}
	return tr, nil
}

// usable reports whether the trunk can take a call now: it does not register, or it is
// registered. why says why not.
func (t *trunk) usable() (ok bool, why string) {
	if t.reg == nil {
		return true, ""
	}
	st := t.reg.state()
	if st.Registered {
		return true, ""
	}
	why = "not registered"
	if st.Error != "" {
		why += ": " + st.Error
	}
	return false, why
}

// host is the trunk's domain, for From and the identity headers.
func (t *trunk) host() string { return t.uri.Host }

// TrunkState is what Trunks reports of one trunk.
type TrunkState struct {
	Name string
	// Registers: the trunk keeps an account registered; Registered: it is now.
	Registers, Registered bool
	// Error says why a registering trunk is not registered ("" when it is, or before its
	// first try ended).
	Error string
}

// Usable reports whether the trunk can carry calls: it does not register, or it is
// registered.
func (s TrunkState) Usable() bool { return !s.Registers || s.Registered }

// Trunks reports the configured trunks in the order they are tried.
func (u *UA) Trunks() []TrunkState {
	out := make([]TrunkState, len(u.trunks))
	for i, t := range u.trunks {
		out[i] = TrunkState{Name: t.Name}
		if t.reg != nil {
			out[i] = t.reg.state()
		}
	}
	return out
}

// TrunkError is an error from a call that went through a trunk: Trunk names it (it
// implements dialer.Trunked). It unwraps to the cause: a *StatusError for a final
// answer, context errors, network failures.
type TrunkError struct {
	Name string
	Err  error
}

func (e *TrunkError) Error() string { return "trunk " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *TrunkError) Unwrap() error { return e.Err }

// Trunk implements dialer.Trunked.
func (e *TrunkError) Trunk() string { return e.Name }

var _ dialer.Trunked = (*TrunkError)(nil)

// errNoResponse ends a try on a trunk that did not answer an INVITE at all within
// trunkResponseTimeout.
var errNoResponse = errors.New("no response from the trunk")

// dialTrunks calls number through the trunks in order. A trunk that is not registered
// (when it registers) is skipped; one that answers 5xx or 408, does not respond, or
// cannot be reached is left for the next one; any other final answer (486, 404, 603…)
// ends the call as it is. The error, or the leg, names the trunk that took the call
// last (dialer.Trunked); when no trunk could take it, the error names none.
func (u *UA) dialTrunks(ctx context.Context, number string, o dialer.DialOpts) (dialer.Leg, error) {
	var (
		skipped []string
		last    error
		tries   int
	)
	for i, t := range u.trunks {
		if ok, why := t.usable(); !ok {
			skipped = append(skipped, t.Name+" ("+why+")")
			continue
		}
		uri := *t.uri.Clone()
		uri.User = userPart(number)
		callID := o.CallID
		if tries > 0 && callID != "" {
			// A new call, not a fork of the first: its own Call-ID, still tied to the
			// dialer's in the logs.
			callID = fmt.Sprintf("%s-%d", callID, tries+1)
		}
		tries++
		timeout := time.Duration(0)
		if u.usableAfter(i) {
			timeout = trunkResponseTimeout
		}
		leg, err := u.dial(ctx, uri, t, o, callID, timeout)
		if err == nil {
			if tries > 1 {
				u.log.Info("call carried by a later trunk", "lead_id", o.LeadID, "call_id", callID, "trunk", t.Name, "skipped", skipped)
			}
			return leg, nil
		}
		err = &TrunkError{Name: t.Name, Err: err}
		var se *StatusError
		if t.reg != nil && errors.As(err, &se) && se.Code == 403 {
			// A registrar that lost our binding (a restart) refuses calls until the
			// next refresh: register again now.
			t.reg.kickNow()
		}
		if !failover(ctx, err) {
			return nil, err
		}
		u.log.Info("trunk failed; trying the next", "lead_id", o.LeadID, "call_id", callID, "trunk", t.Name, "error", err)
		skipped = append(skipped, t.Name+" ("+err.Error()+")")
		last = err
	}
	if last != nil {
		return nil, last
	}
	return nil, fmt.Errorf("sip: no trunk can carry the call to %s: %s", number, strings.Join(skipped, ", "))
}

// usableAfter reports whether a trunk after the i'th can take a call now.
func (u *UA) usableAfter(i int) bool {
	for _, t := range u.trunks[i+1:] {
		if ok, _ := t.usable(); ok {
			return true
		}
	}
	return false
}

// failover reports whether a trunk's failure leaves the call for the next trunk: a 5xx
// or 408 answer, no response, a network failure; not a final answer from the far end
// (486, 404, 603…), nor a 2xx whose SDP we refused (the customer picked up), nor the end
// of ctx or of the user agent.
func failover(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, errClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code/100 == 5 || se.Code == 408
	}
	var ae *answerError
	return !errors.As(err, &ae) // the customer answered: not to be rung again elsewhere
}

// trunkFor returns the trunk a SIP URI points at (same host and port), or nil: an
// INVITE to it gets the trunk's credentials.
func (u *UA) trunkFor(uri sip.Uri) *trunk {
	for _, t := range u.trunks {
		if strings.EqualFold(uri.Host, t.uri.Host) && uri.Port == t.uri.Port {
			return t
		}
	}
	return nil
}

// identify puts the caller id into an INVITE for t (nil: not through a trunk): From,
// and the trunk's identity header (RFC 3325 section 9.1 P-Asserted-Identity, 9.2
// P-Preferred-Identity) with the same display name. Privacy "id" (RFC 3325 section 9.3)
// asks the carrier to withhold it from the callee; From then shows "Anonymous" (RFC 3323
// section 4.1.1.3) when the identity header carries the number, and keeps the number
// when From is all the carrier gets. Privacy "none" says it may be shown (RFC 3323
// section 4.2).
func identify(req *sip.Request, from *sip.FromHeader, t *trunk, o dialer.DialOpts) {
	identity := ""
	if t != nil {
		from.Address.Host = t.host()
		identity = t.identity
	}
	if identity != "" {
		id := &sip.FromHeader{DisplayName: from.DisplayName, Address: sip.Uri{Scheme: "sip", User: from.Address.User, Host: t.host()}}
		// A header of its own: FromHeader's text is "display" <uri> without params.
		req.AppendHeader(sip.NewHeader(identity, id.Value()))
	}
	switch o.Privacy {
	case "id":
		req.AppendHeader(sip.NewHeader("Privacy", "id"))
		if identity != "" || t == nil {
			from.DisplayName = "Anonymous"
			from.Address = sip.Uri{Scheme: "sip", User: "anonymous", Host: "anonymous.invalid"}
		}
	case "none":
		req.AppendHeader(sip.NewHeader("Privacy", "none"))
	}
}
