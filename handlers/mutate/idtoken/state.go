package idtoken

import (
	"sort"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
)

// Key set states reported by Signers.States: the jwt key sets' words, so
// readiness reports both kinds alike. Stale: the last good keys still
// sign, but refreshes fail (for less than Options.MaxStale); missing:
// nothing signs, the set never loaded or has failed for longer.
const (
	StatePresent = jwks.StatePresent
	StateStale   = jwks.StateStale
	StateMissing = jwks.StateMissing
)

// KeySetState is a read-only snapshot of one signing key set a live
// id_token mutator uses, for readiness reports. It holds no key material.
type KeySetState struct {
	// URL is the jwks_url without user info, query or fragment.
	URL string
	// State is StatePresent, StateStale or StateMissing.
	State string
	// Keys is the number of published keys (0 when never loaded).
	Keys int
	// LastSuccess is when the set last loaded (zero when never).
	LastSuccess time.Time
	// LastError is the error of the last load, nil after a success.
	LastError error
	// FetchErrors counts every failed load of the set.
	FetchErrors uint64
}

// States returns the state of every key set a live mutator uses, sorted by
// URL. It only reads: it never fetches.
func (s *Signers) States() []KeySetState {
	now := s.now()
	srcs := s.live()
	out := make([]KeySetState, 0, len(srcs))
	for _, src := range srcs {
		st := src.state.Load()
		ks := KeySetState{URL: redactURL(src.loc), LastSuccess: st.loadedAt, LastError: st.lastErr, FetchErrors: src.fetchErrors.Load()}
		switch {
		case !st.usable(now, s.maxStale):
			ks.State = StateMissing
		case st.lastErr != nil:
			ks.State = StateStale
		default:
			ks.State = StatePresent
		}
		if st.keys != nil {
			ks.Keys = len(st.keys.public)
		}
		out = append(out, ks)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out
}
