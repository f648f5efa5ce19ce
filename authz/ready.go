package authz

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Readiness keys that always keep the service out of readiness.
const (
	// ReadyRulesLoaded is Oathkeeper's key: no rule snapshot is in force.
	ReadyRulesLoaded = "rules_loaded"
	// ReadyShutdown: shutdown has started (the drain delay runs).
	ReadyShutdown = "shutdown"
)

// Readiness answers "should traffic come here?" for every front door:
// /health/ready on the HTTP API and grpc.health.v1 on the gRPC listener
// read the same state.
//
// The rules and the shutdown switch always count: the service is ready
// once a rule snapshot is in force and until shutdown starts. Components
// add named checks (the key sets rules use, a control-plane stream); their
// problems are reported, but keep the service out of readiness only when
// the operator requires them (SetRequired), so one identity provider that
// is down does not take every rule out of service.
//
// Readiness is safe for concurrent use.
type Readiness struct {
	snaps    Snapshots
	draining atomic.Bool
	required atomic.Pointer[map[string]bool]

	mu      sync.Mutex
	checks  map[string]ReadinessCheck
	changed chan struct{} // closed and replaced by Notify
}

// ReadinessCheck reports one dependency. It runs on every probe: it must be
// cheap, safe for concurrent use, and never wait on the network.
type ReadinessCheck func() DependencyStatus

// DependencyStatus is what one check reports.
type DependencyStatus struct {
	// Detail is the dependency's state, written under the check's name in
	// the body's "dependencies" object; any value encoding/json accepts.
	Detail any
	// Problems maps a stable key (a key set URL, a stream name) to one line
	// saying what is wrong. A problem keeps the service out of readiness
	// only when SetRequired names its key or the check's name.
	Problems map[string]string
}

// ReadinessReport is one evaluation of Readiness.
type ReadinessReport struct {
	// Ready is true when nothing in Errors.
	Ready bool
	// Errors holds what keeps the service out of readiness, key → reason:
	// the body of a 503, in Oathkeeper's shape.
	Errors map[string]string
	// Dependencies holds each dependency's detail by name, "rules" first
	// among equals.
	Dependencies map[string]any
}

// RulesStatus is the "rules" dependency of the report.
type RulesStatus struct {
	Loaded  bool   `json:"loaded"`
	Version string `json:"version,omitempty"`
	Rules   int    `json:"rules"`
}

// NewReadiness returns readiness decided by snaps alone until checks are
// added.
func NewReadiness(snaps Snapshots) *Readiness {
	return &Readiness{snaps: snaps, checks: map[string]ReadinessCheck{}, changed: make(chan struct{})}
}

// AddCheck registers (or, under the same name, replaces) a dependency
// check. The name is its key in the body ("key_sets", "control_plane");
// "rules" is taken.
func (r *Readiness) AddCheck(name string, check ReadinessCheck) {
	r.mu.Lock()
	r.checks[name] = check
	r.mu.Unlock()
	r.Notify()
}

// CheckNames returns the names of the registered checks, sorted.
func (r *Readiness) CheckNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.checks))
	for n := range r.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// HasCheck reports whether a check named name is registered.
func (r *Readiness) HasCheck(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.checks[name]
	return ok
}

// SetRequired sets the check names and problem keys whose problems keep the
// service out of readiness (serve.readiness.require). It may be called at
// any time (SIGHUP).
func (r *Readiness) SetRequired(names []string) {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	r.required.Store(&m)
	r.Notify()
}

// Required reports whether SetRequired named key.
func (r *Readiness) Required(key string) bool {
	m := r.required.Load()
	return m != nil && (*m)[key]
}

// StartDraining marks the start of shutdown: from now on the service is
// not ready, for good. It is idempotent.
func (r *Readiness) StartDraining() {
	if !r.draining.Swap(true) {
		r.Notify()
	}
}

// Draining reports whether shutdown has started.
func (r *Readiness) Draining() bool { return r.draining.Load() }

// Ready evaluates readiness now.
func (r *Readiness) Ready() bool { return r.Report().Ready }

// Report evaluates every input now.
func (r *Readiness) Report() ReadinessReport {
	rep := ReadinessReport{Errors: map[string]string{}, Dependencies: map[string]any{}}
	rules := RulesStatus{}
	if s := r.snaps.Current(); s != nil {
		rules = RulesStatus{Loaded: true, Version: s.Version, Rules: len(s.Rules())}
	} else {
		rep.Errors[ReadyRulesLoaded] = "no rules have been loaded yet"
	}
	rep.Dependencies["rules"] = rules
	if r.Draining() {
		rep.Errors[ReadyShutdown] = "the server is shutting down"
	}
	names := r.CheckNames()
	checks := make([]ReadinessCheck, len(names))
	r.mu.Lock()
	for i, n := range names {
		checks[i] = r.checks[n]
	}
	r.mu.Unlock()
	for i, name := range names {
		st := checks[i]()
		rep.Dependencies[name] = st.Detail
		for key, problem := range st.Problems {
			if r.Required(name) || r.Required(key) {
				rep.Errors[key] = problem
			}
		}
	}
	rep.Ready = len(rep.Errors) == 0
	return rep
}

// Notify tells watchers (gRPC health Watch streams) that readiness may
// have changed. Components whose checks change state without a probe call
// it, or rely on Watch's periodic evaluation.
func (r *Readiness) Notify() {
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// changes returns a channel that is closed at the next Notify.
func (r *Readiness) changes() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Watch evaluates readiness every interval until ctx is done and calls
// Notify when the answer flips, so streaming health watchers learn about
// dependencies (key sets) that change without telling anyone. It returns
// nil.
func (r *Readiness) Watch(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	last := r.Ready()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if now := r.Ready(); now != last {
				last = now
				r.Notify()
			}
		}
	}
}
