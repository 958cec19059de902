package dialertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/leadline/leadline/dialer"
)

// Script is how a simulated phone behaves when called.
type Script struct {
	Ring   time.Duration // ring this long, then answer; with Never, ring until canceled
	Never  bool          // never answer
	Code   int           // answer the INVITE with this final code after Ring (486, 603…)
	Press  rune          // key pressed PressAfter after answering; 0: none
	After  time.Duration // see Press
	HangUp time.Duration // hang up this long after answering; 0: stay
	// Later, when set, is a second key pressed LaterAfter after answering: the call's
	// outcome, asked once the customer hung up.
	Later      rune
	LaterAfter time.Duration
	// Trunk is the trunk the call goes through, as the leg and a refusal report it
	// (dialer.Trunked); "" for none.
	Trunk string
	// Then, when set, is how the phone behaves from the next call on.
	Then *Script
}

// Called is one call a Caller placed.
type Called struct {
	Target string
	Opts   dialer.DialOpts
	Leg    *Leg // nil when not answered
}

// Caller is a dialer.Caller whose phones follow scripts. Dialling a target with no script
// fails as a network error would.
type Caller struct {
	mu      sync.Mutex // guards the following fields
	scripts map[string]Script
	calls   []Called
}

var _ dialer.Caller = (*Caller)(nil)

// NewCaller returns a Caller with the given scripts by target.
func NewCaller(scripts map[string]Script) *Caller {
	return &Caller{scripts: scripts}
}

// Calls returns the calls placed so far, in order.
func (c *Caller) Calls() []Called {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Called(nil), c.calls...)
}

// StatusError is a refused call, as sip.StatusError; TrunkName is the trunk that
// answered.
type StatusError struct {
	Code      int
	TrunkName string
}

// Trunk implements dialer.Trunked.
func (e *StatusError) Trunk() string { return e.TrunkName }

func (e *StatusError) Error() string { return fmt.Sprintf("sip %d", e.Code) }

// SIPCode returns the code.
func (e *StatusError) SIPCode() int { return e.Code }

// Is classifies the code as sip does: dialer.RefusedBy.
func (e *StatusError) Is(target error) bool {
	return target == dialer.RefusedBy(e.Code)
}

// Dial implements dialer.Caller.
func (c *Caller) Dial(ctx context.Context, target string, o dialer.DialOpts) (dialer.Leg, error) {
	c.mu.Lock()
	s, ok := c.scripts[target]
	if ok && s.Then != nil {
		c.scripts[target] = *s.Then
	}
	i := len(c.calls)
	c.calls = append(c.calls, Called{Target: target, Opts: o})
	c.mu.Unlock()
	if !ok {
		return nil, errors.New("no route to " + target)
	}
	if s.Never {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	t := time.NewTimer(s.Ring)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	if s.Code != 0 {
		return nil, &StatusError{Code: s.Code, TrunkName: s.Trunk}
	}
	l := newLeg(s)
	c.mu.Lock()
	c.calls[i].Leg = l
	c.mu.Unlock()
	return l, nil
}

// Leg is an answered simulated phone.
type Leg struct {
	trunk  string
	digits chan rune
	done   chan struct{}
	once   sync.Once
	stop   chan struct{}

	mu      sync.Mutex // guards the following fields
	err     error
	played  []int // lengths of the audio played, in samples
	bridged *Leg
}

var _ dialer.Leg = (*Leg)(nil)

var errFarEndHungUp = dialer.ErrHungUp

func newLeg(s Script) *Leg {
	l := &Leg{trunk: s.Trunk, digits: make(chan rune, 4), done: make(chan struct{}), stop: make(chan struct{})}
	go l.act(s)
	return l
}

// Trunk implements dialer.Trunked: the script's Trunk.
func (l *Leg) Trunk() string { return l.trunk }

func (l *Leg) act(s Script) {
	var press, later, hang <-chan time.Time
	if s.Press != 0 {
		t := time.NewTimer(s.After)
		defer t.Stop()
		press = t.C
	}
	if s.Later != 0 {
		t := time.NewTimer(s.LaterAfter)
		defer t.Stop()
		later = t.C
	}
	if s.HangUp > 0 {
		t := time.NewTimer(s.HangUp)
		defer t.Stop()
		hang = t.C
	}
	for {
		select {
		case <-press:
			l.digits <- s.Press
			press = nil
		case <-later:
			l.digits <- s.Later
			later = nil
		case <-hang:
			l.end(errFarEndHungUp)
			return
		case <-l.stop:
			return
		}
	}
}

func (l *Leg) end(err error) {
	l.once.Do(func() {
		l.mu.Lock()
		l.err = err
		l.mu.Unlock()
		close(l.done)
		close(l.stop)
	})
}

// Play implements dialer.Leg: it takes as long as the audio lasts.
func (l *Leg) Play(ctx context.Context, a dialer.Audio) error {
	l.mu.Lock()
	l.played = append(l.played, len(a))
	l.mu.Unlock()
	t := time.NewTimer(a.Duration())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return l.Err()
	}
}

// Played returns the lengths in samples of everything played to this phone.
func (l *Leg) Played() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.played...)
}

// Bridged is the leg this one was bridged to, or nil.
func (l *Leg) Bridged() *Leg {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bridged
}

func (l *Leg) Digits() <-chan rune { return l.digits }

func (l *Leg) Bridge(other dialer.Leg) error {
	o := other.(*Leg)
	l.mu.Lock()
	l.bridged = o
	l.mu.Unlock()
	o.mu.Lock()
	o.bridged = l
	o.mu.Unlock()
	return nil
}

var errHungUpByUs = errors.New("hung up by leadline")

func (l *Leg) Hangup(context.Context) error {
	l.end(errHungUpByUs)
	return nil
}

// HungUpByUs reports whether Leadline ended the call (rather than the phone).
func (l *Leg) HungUpByUs() bool { return errors.Is(l.Err(), errHungUpByUs) }

func (l *Leg) Done() <-chan struct{} { return l.done }

func (l *Leg) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Speaker is a dialer.Speaker that returns two seconds of silence per text and records
// what it was asked to say.
type Speaker struct {
	mu    sync.Mutex
	Texts []string
}

// Speak implements dialer.Speaker.
func (s *Speaker) Speak(_ context.Context, lang string, p dialer.Prompt) (dialer.Audio, error) {
	s.mu.Lock()
	s.Texts = append(s.Texts, lang+": "+p.Text)
	s.mu.Unlock()
	return make(dialer.Audio, 2*8000), nil
}

// Said returns what the speaker was asked to say, "lang: text" each.
func (s *Speaker) Said() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.Texts...)
}
