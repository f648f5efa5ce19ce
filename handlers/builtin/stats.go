package builtin

import (
	"github.com/portcullis-authz/portcullis/handlers/internal/cachestats"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

// Cache names, the cache label of the cache metrics.
const (
	CacheJWTTokens         = "jwt_tokens"
	CacheIDTokens          = "id_tokens"
	CacheIntrospection     = "introspection"
	CacheSessions          = "sessions"
	CacheClientCredentials = "client_credentials"
	CacheHydrator          = "hydrator"
)

// CacheStats is the hit, miss and eviction counts of one shared cache.
type CacheStats struct {
	// Cache is one of the Cache* names.
	Cache string
	// Hits and Misses count lookups; Evictions counts live entries dropped
	// to stay within the cache's bounds.
	Hits, Misses, Evictions uint64
	// Entries is the number of entries held now.
	Entries int
}

// CacheStats returns the counts of every shared cache, for metrics. It
// only reads counters.
func (d *Deps) CacheStats() []CacheStats {
	out := make([]CacheStats, 0, 6)
	add := func(name string, s cachestats.Stats) {
		out = append(out, CacheStats{Cache: name, Hits: s.Hits, Misses: s.Misses, Evictions: s.Evictions, Entries: s.Entries})
	}
	add(CacheJWTTokens, d.JWTTokens.Stats())
	add(CacheIDTokens, d.IDTokens.CacheStats())
	add(CacheIntrospection, d.Introspection.Stats())
	add(CacheSessions, d.Sessions.Stats())
	add(CacheClientCredentials, d.Tokens.Stats())
	add(CacheHydrator, d.Hydrations.Stats())
	return out
}

// BreakerState is the state of one remote endpoint's circuit breaker.
type BreakerState struct {
	// URL is the endpoint without user info or query.
	URL string
	// State is "closed", "open" or "half_open".
	State string
	// ConsecutiveFailures is the current run of failures.
	ConsecutiveFailures int
}

// BreakerStates returns the state of every live circuit breaker, sorted
// by URL, for metrics.
func (d *Deps) BreakerStates() []BreakerState {
	sts := d.HTTP.BreakerStates()
	out := make([]BreakerState, 0, len(sts))
	for _, s := range sts {
		out = append(out, BreakerState{URL: s.URL, State: s.State.String(), ConsecutiveFailures: s.ConsecutiveFailures})
	}
	return out
}

// CallObserver is told about every remote call handlers send (see
// ObserveCalls).
type CallObserver = outbound.CallObserver

// ObserveCalls adds o to the observers of every remote call the handlers
// send from now on (metrics, tracing). Call it before rules load.
func (d *Deps) ObserveCalls(o CallObserver) { d.HTTP.Observe(o) }
