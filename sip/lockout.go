package sip

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Lockout is how repeated bad passwords on the registrar are stopped. Failures are
// counted per user name (known or not: a made-up name is counted like a real one, so
// the lockout itself tells nothing) and per source (an IPv4 address, an IPv6 /64).
// Once either has Limit failures within Window, REGISTERs for that user, or from that
// source, are refused for Duration without their credentials being checked, with the
// same 403 a wrong password gets: a locked-out user looks like any user with a wrong
// password. The counts are kept in memory, per node.
//
// A user's lockout does not apply to a source that holds one of that user's live
// registrations (the salesperson's own phone keeps refreshing while someone elsewhere
// guesses); the source's own lockout still does.
type Lockout struct {
	UserLimit   int           // failures of one user name (default 5)
	SourceLimit int           // failures from one source (default 20)
	Window      time.Duration // in which failures count (default 15 min)
	Duration    time.Duration // of a lockout (default 15 min)
}

func (l Lockout) withDefaults() Lockout {
	if l.UserLimit <= 0 {
		l.UserLimit = 5
	}
	if l.SourceLimit <= 0 {
		l.SourceLimit = 20
	}
	if l.Window <= 0 {
		l.Window = 15 * time.Minute
	}
	if l.Duration <= 0 {
		l.Duration = 15 * time.Minute
	}
	return l
}

// maxTracked bounds the user names and the sources counted, each: a scan with random
// names must not grow memory without end. When full, the entry counted longest ago
// that is not locked makes room.
const maxTracked = 10000

// strikes counts one user's or source's failures.
type strikes struct {
	n      int
	first  time.Time // of the failures counted now
	locked time.Time // until when refused; zero: not locked
}

// guard keeps the counts.
type guard struct {
	lim Lockout
	now func() time.Time

	mu      sync.Mutex // guards the following fields
	users   map[string]*strikes
	sources map[netip.Prefix]*strikes
	homes   map[string]map[netip.Addr]time.Time // user → sources of live registrations, until their expiry
}

func newGuard(lim Lockout, now func() time.Time) *guard {
	return &guard{lim: lim.withDefaults(), now: now, users: map[string]*strikes{},
		sources: map[netip.Prefix]*strikes{}, homes: map[string]map[netip.Addr]time.Time{}}
}

// Scopes of a lockout: the scope label of leadline_register_lockouts_total.
const (
	scopeUser   = "user"
	scopeSource = "source"
)

// locked says whether a REGISTER for user from src is refused unchecked now.
func (g *guard) locked(user string, src netip.Addr) bool {
	user = strings.ToLower(user)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if s := g.sources[sourceOf(src)]; s != nil && now.Before(s.locked) {
		return true
	}
	if s := g.users[user]; s != nil && now.Before(s.locked) {
		until, home := g.homes[user][src.Unmap()]
		return !home || !now.Before(until)
	}
	return false
}

// fail counts a failure and returns the scopes it locked.
func (g *guard) fail(user string, src netip.Addr) []string {
	user = strings.ToLower(user)
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	var locked []string
	if strike(g.users, user, now, g.lim, g.lim.UserLimit) {
		locked = append(locked, scopeUser)
	}
	if strike(g.sources, sourceOf(src), now, g.lim, g.lim.SourceLimit) {
		locked = append(locked, scopeSource)
	}
	return locked
}

// strike adds a failure to m[k] and reports whether it started a lockout.
func strike[K comparable](m map[K]*strikes, k K, now time.Time, lim Lockout, limit int) bool {
	s := m[k]
	if s == nil {
		if len(m) >= maxTracked {
			evict(m, now)
		}
		s = &strikes{}
		m[k] = s
	}
	if now.Sub(s.first) > lim.Window {
		s.n, s.first = 0, now
	}
	s.n++
	if s.n >= limit && !now.Before(s.locked) {
		s.locked, s.n, s.first = now.Add(lim.Duration), 0, now
		return true
	}
	return false
}

// evict drops the entry counted longest ago that is not locked (or, all locked, the
// one whose lockout ends first).
func evict[K comparable](m map[K]*strikes, now time.Time) {
	var (
		victim K
		best   *strikes
	)
	for k, s := range m {
		if best == nil || older(s, best, now) {
			victim, best = k, s
		}
	}
	delete(m, victim)
}

func older(a, b *strikes, now time.Time) bool {
	al, bl := now.Before(a.locked), now.Before(b.locked)
	switch {
	case al != bl:
		return !al
	case al:
		return a.locked.Before(b.locked)
	}
	return a.first.Before(b.first)
}

// succeed clears user's count and remembers src as one of the user's homes until.
func (g *guard) succeed(user string, src netip.Addr, until time.Time) {
	user = strings.ToLower(user)
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.users[user]; s != nil && !g.now().Before(s.locked) {
		delete(g.users, user)
	}
	h := g.homes[user]
	if h == nil {
		if len(g.homes) >= maxTracked {
			for u := range g.homes {
				delete(g.homes, u)
				break
			}
		}
		h = map[netip.Addr]time.Time{}
		g.homes[user] = h
	}
	now := g.now()
	for a, t := range h {
		if !now.Before(t) {
			delete(h, a)
		}
	}
	if len(h) < 16 {
		h[src.Unmap()] = until
	}
}

// sourceOf is the source a failure is counted for: the address, or its /64.
func sourceOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}
