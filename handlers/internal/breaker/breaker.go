// Package breaker is the circuit breaker of the remote calls: one circuit
// per configured endpoint URL, shared by every handler instance that calls
// that URL and kept across rule reloads, so a dependency that is down costs
// a map lookup per request instead of a timeout.
//
// A circuit is closed (calls pass) until a run of consecutive failed calls
// reaches a caller's threshold; it then opens and refuses calls with
// ErrOpen for the open period, shortened by up to a quarter at random so
// that replicas which tripped together do not probe together. After that
// one call is let through as a probe while every other still gets ErrOpen:
// a successful probe closes the circuit, a failed one opens it again.
//
// What counts as a failure is the caller's decision (Permit.Done): the
// remote calls count transport errors, timeouts and 5xx answers, never an
// answer such as a 4xx or a negative decision.
//
// github.com/sony/gobreaker was considered: its clock is time.Now and its
// open period fixed, so neither the jitter nor deterministic tests could be
// had with it, and its thresholds are per breaker where here they belong
// to each caller of a shared circuit.
package breaker

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"sort"
	"sync"
	"time"
	"weak"
)

// Defaults of Settings.
const (
	DefaultConsecutiveFailures = 5
	DefaultOpenFor             = 2 * time.Second
	// MaxOpenFor bounds the open period: a longer one would keep a
	// recovered dependency out of service for no benefit.
	MaxOpenFor = time.Minute
)

// ErrOpen is wrapped by the error Allow returns while a circuit refuses
// calls.
var ErrOpen = errors.New("circuit open after repeated failures")

// State is the state of a circuit.
type State int

// The states of a circuit.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns the state's name as metrics and readiness show it.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Outcome is what a call through a Permit said about the dependency.
type Outcome int

// The outcomes of a call.
const (
	// Success: the dependency answered. It resets the failure count and
	// closes a half-open circuit.
	Success Outcome = iota
	// Failure: the dependency failed (transport error, its own timeout,
	// 5xx). It counts towards opening and reopens a half-open circuit.
	Failure
	// Ignored: the call says nothing about the dependency (the caller gave
	// up or ran out of time first). A probe that ends so lets the next
	// call probe.
	Ignored
)

// Settings are one caller's thresholds. Callers sharing a circuit may use
// different settings; each failure is judged with the settings of the
// caller that saw it.
type Settings struct {
	// ConsecutiveFailures opens the circuit (default 5).
	ConsecutiveFailures int
	// OpenFor is the longest open period (default 2s); each one is
	// shortened by a random part of at most a quarter.
	OpenFor time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.ConsecutiveFailures <= 0 {
		s.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if s.OpenFor <= 0 {
		s.OpenFor = DefaultOpenFor
	}
	return s
}

// Options configure a Registry.
type Options struct {
	// Now is the clock (default time.Now). Tests inject a fake one.
	Now func() time.Time
	// Jitter returns a duration in [0, n) for n > 0 (default uniform
	// random); the open period is shortened by Jitter(OpenFor/4).
	Jitter func(n time.Duration) time.Duration
}

// Registry holds the circuits of one process, one per endpoint URL. A
// circuit lives as long as some Breaker refers to it, so circuits of URLs
// no rule uses any more disappear once the old rules are collected. It is
// safe for concurrent use.
type Registry struct {
	now    func() time.Time
	jitter func(time.Duration) time.Duration

	mu sync.Mutex
	m  map[string]weak.Pointer[circuit]
}

// NewRegistry returns an empty Registry.
func NewRegistry(o Options) *Registry {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = func(n time.Duration) time.Duration { return rand.N(n) }
	}
	return &Registry{now: o.Now, jitter: o.Jitter, m: make(map[string]weak.Pointer[circuit])}
}

// Get returns a Breaker for calls to u with the caller's settings (zero
// fields take the defaults). Every Breaker for the same URL string (query
// included) shares one circuit; URLs differing in any way, the same host
// with another path included, do not.
func (r *Registry) Get(u *url.URL, s Settings) *Breaker {
	key := u.String()
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.m[key].Value()
	if c == nil {
		c = &circuit{url: redacted(u), now: r.now, jitter: r.jitter}
		r.m[key] = weak.Make(c)
		runtime.AddCleanup(c, r.forget, key)
	}
	return &Breaker{c: c, s: s.withDefaults()}
}

// forget drops the entry of a collected circuit, unless a new circuit has
// taken the key since.
func (r *Registry) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if wp, ok := r.m[key]; ok && wp.Value() == nil {
		delete(r.m, key)
	}
}

// Status is the state of one circuit.
type Status struct {
	// URL is the endpoint without query or user info, which may hold a
	// credential.
	URL string
	// State is the state now (an open circuit whose period has passed is
	// reported half-open: the next call probes).
	State State
	// ConsecutiveFailures is the current run of failures.
	ConsecutiveFailures int
	// OpenUntil is the end of the open period when State is Open.
	OpenUntil time.Time
}

// States returns the state of every live circuit, sorted by URL, for
// metrics and readiness.
func (r *Registry) States() []Status {
	r.mu.Lock()
	cs := make([]*circuit, 0, len(r.m))
	for _, wp := range r.m {
		if c := wp.Value(); c != nil {
			cs = append(cs, c)
		}
	}
	r.mu.Unlock()
	out := make([]Status, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.status())
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}

// Breaker is one caller's view of a shared circuit. A nil *Breaker lets
// every call through, for callers with circuit breaking turned off.
type Breaker struct {
	c *circuit
	s Settings
}

// Allow asks to make a call. It returns an error wrapping ErrOpen while
// the circuit refuses calls; otherwise the caller makes the call and must
// report its outcome with Permit.Done exactly once.
func (b *Breaker) Allow() (Permit, error) {
	if b == nil {
		return Permit{}, nil
	}
	gen, err := b.c.allow()
	if err != nil {
		return Permit{}, err
	}
	return Permit{b: b, gen: gen}, nil
}

// State returns the circuit's state now (Closed for a nil Breaker).
func (b *Breaker) State() State {
	if b == nil {
		return Closed
	}
	return b.c.status().State
}

// Permit is the right to make one call.
type Permit struct {
	b   *Breaker
	gen uint64
}

// Done reports the outcome of the call. An outcome that arrives after the
// circuit changed state since Allow (a slow call that ended after the
// circuit opened) is disregarded.
func (p Permit) Done(o Outcome) {
	if p.b != nil {
		p.b.c.done(p.gen, p.b.s, o)
	}
}

// circuit is the shared state of one URL.
type circuit struct {
	url    string
	now    func() time.Time
	jitter func(time.Duration) time.Duration

	mu        sync.Mutex
	state     State
	gen       uint64 // changes with every state change
	failures  int
	openUntil time.Time
	probing   bool // half-open and the probe is out
}

func (c *circuit) allow() (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case Open:
		if c.now().Before(c.openUntil) {
			return 0, fmt.Errorf("%s: %w", c.url, ErrOpen)
		}
		c.state, c.probing = HalfOpen, false
		c.gen++
		fallthrough
	case HalfOpen:
		if c.probing {
			return 0, fmt.Errorf("%s: %w", c.url, ErrOpen)
		}
		c.probing = true
	}
	return c.gen, nil
}

func (c *circuit) done(gen uint64, s Settings, o Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	switch c.state {
	case Closed:
		switch o {
		case Success:
			c.failures = 0
		case Failure:
			c.failures++
			if c.failures >= s.ConsecutiveFailures {
				c.open(s)
			}
		}
	case HalfOpen:
		switch o {
		case Success:
			c.state, c.failures, c.probing = Closed, 0, false
			c.gen++
		case Failure:
			c.failures++
			c.open(s)
		case Ignored:
			c.probing = false
		}
	}
}

// open starts an open period of s.OpenFor less a random part of at most a
// quarter of it.
func (c *circuit) open(s Settings) {
	d := s.OpenFor
	if q := d / 4; q > 0 {
		d -= c.jitter(q)
	}
	c.state, c.probing, c.openUntil = Open, false, c.now().Add(d)
	c.gen++
}

func (c *circuit) status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Status{URL: c.url, State: c.state, ConsecutiveFailures: c.failures}
	switch {
	case c.state == Open && !c.now().Before(c.openUntil):
		st.State = HalfOpen
	case c.state == Open:
		st.OpenUntil = c.openUntil
	}
	return st
}

// redacted is u without user info, query or fragment.
func redacted(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	return c.String()
}
