package jwks

import (
	"sort"
	"time"
)

// Key set states reported by Cache.States.
const (
	// StatePresent: keys are loaded and the last fetch succeeded.
	StatePresent = "present"
	// StateStale: the last good keys still serve, but later fetches
	// failed (within Options.MaxStale).
	StateStale = "stale"
	// StateMissing: no usable keys, because none was ever loaded or the
	// last success is older than Options.MaxStale.
	StateMissing = "missing"
)

// SourceState is a read-only snapshot of one registered key set, for
// readiness reports. It never holds key material.
type SourceState struct {
	// URL is the set's URL without user info, query or fragment.
	URL string
	// State is StatePresent, StateStale or StateMissing.
	State string
	// Keys is the number of usable keys served (0 when missing).
	Keys int
	// LastSuccess is when the set was last fetched successfully (zero
	// when never).
	LastSuccess time.Time
	// LastError is the error of the last fetch, nil after a success or
	// before the first attempt has finished.
	LastError error
	// Failures counts consecutive failed fetches.
	Failures int
	// FetchErrors counts every failed fetch since the set was registered.
	FetchErrors uint64
}

// States returns the state of every key set some rule has registered and
// not released, sorted by URL. It only reads: it never starts a fetch.
func (c *Cache) States() []SourceState {
	c.mu.Lock()
	srcs := make([]*Source, 0, len(c.sources))
	for _, s := range c.sources {
		srcs = append(srcs, s)
	}
	c.mu.Unlock()
	out := make([]SourceState, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, s.state())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}

// state describes s now.
func (s *Source) state() SourceState {
	st := SourceState{URL: s.display}
	s.mu.Lock()
	st.LastError, st.Failures, st.FetchErrors = s.lastErr, s.failures, s.fetchErrors
	s.mu.Unlock()
	if ok := s.lastOK.Load(); ok != 0 && s.set.Load() != nil {
		st.LastSuccess = time.Unix(0, ok)
	}
	cur := s.Current()
	switch {
	case cur == nil:
		st.State = StateMissing
	case st.LastError != nil:
		st.State, st.Keys = StateStale, len(cur.Keys())
	default:
		st.State, st.Keys = StatePresent, len(cur.Keys())
	}
	return st
}
