package idtoken

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

// Defaults for Options.
const (
	// DefaultRefreshInterval is how often Run re-reads the key sets.
	DefaultRefreshInterval = 5 * time.Minute
	// DefaultMaxStale is how long keys outlive failing refreshes: long
	// enough to ride out an outage of the key store, short enough that a
	// key set nobody can read any more stops signing the same day.
	DefaultMaxStale = time.Hour
	// DefaultFetchTimeout bounds one load of one key set.
	DefaultFetchTimeout = 10 * time.Second
)

// Options configure a Signers.
type Options struct {
	// Client fetches http(s) key sets. Required for http(s) jwks_url.
	Client *outbound.Client
	// Logger receives refresh failures (default: no logging).
	Logger *zap.Logger
	// RefreshInterval is how often Run re-reads every key set, file and
	// http(s) alike, so rotated keys are picked up (default 5m).
	RefreshInterval time.Duration
	// MaxStale is how long the last good keys of a source stay in use while
	// its refreshes fail; after that minting fails closed (default 1h).
	MaxStale time.Duration
	// FetchTimeout bounds one load of one key set (default 10s).
	FetchTimeout time.Duration
	// CacheMaxBytes bounds the minted-token cache (default 32 MiB).
	CacheMaxBytes int64
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

// Signers is the process-wide registry of id_token signing keys. Make one
// with NewSigners and pass it to every New: mutators that name the same
// jwks_url share one loaded set, and the minted-token cache is shared and
// bounded. PublicJWKS serves /.well-known/jwks.json.
//
// A source stays registered while some mutator (of a live rule snapshot)
// holds it; Signers keeps only weak references, so a retired snapshot's
// keys leave the published set once the garbage collector has dropped it,
// without any Close call. Signers is safe for concurrent use.
type Signers struct {
	client   *outbound.Client
	log      *zap.Logger
	interval time.Duration
	maxStale time.Duration
	timeout  time.Duration
	now      func() time.Time
	cache    *tokenCache

	mu      sync.Mutex
	sources map[string]weak.Pointer[source]
}

// NewSigners returns an empty registry. Without Run, each key set is
// loaded once, when the first mutator naming it is built.
func NewSigners(o Options) *Signers {
	s := &Signers{
		client: o.Client, log: o.Logger, interval: o.RefreshInterval, maxStale: o.MaxStale,
		timeout: o.FetchTimeout, now: o.Now, sources: map[string]weak.Pointer[source]{},
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("mutate.id_token")
	if s.interval <= 0 {
		s.interval = DefaultRefreshInterval
	}
	if s.maxStale <= 0 {
		s.maxStale = DefaultMaxStale
	}
	if s.timeout <= 0 {
		s.timeout = DefaultFetchTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	if o.CacheMaxBytes <= 0 {
		o.CacheMaxBytes = DefaultCacheMaxBytes
	}
	s.cache = newTokenCache(o.CacheMaxBytes)
	return s
}

// source is one jwks_url and its current keys.
type source struct {
	loc   jwksLocation
	state atomic.Pointer[sourceState]
}

// sourceState is immutable once published.
type sourceState struct {
	keys *keySet
	sum  [32]byte // sha256 of the document the keys came from
	// failingSince is when refreshes started failing; zero while the last
	// refresh succeeded.
	failingSince time.Time
	lastErr      error
}

// usable reports whether the keys may still sign at now.
func (st *sourceState) usable(now time.Time, maxStale time.Duration) bool {
	return st.failingSince.IsZero() || now.Sub(st.failingSince) < maxStale
}

// source returns the registered source for loc, loading it first if no
// live mutator holds it. A first load that fails is an error: a rule whose
// keys cannot be loaded does not compile.
func (s *Signers) source(loc jwksLocation) (*source, error) {
	s.mu.Lock()
	if src := s.sources[loc.raw].Value(); src != nil {
		s.mu.Unlock()
		return src, nil
	}
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	data, err := s.fetch(ctx, loc)
	if err != nil {
		return nil, err
	}
	keys, err := parseKeySet(data)
	if err != nil {
		return nil, err
	}
	src := &source{loc: loc}
	src.state.Store(&sourceState{keys: keys, sum: sha256.Sum256(data)})

	s.mu.Lock()
	defer s.mu.Unlock()
	if other := s.sources[loc.raw].Value(); other != nil {
		return other, nil // a concurrent New won the race; share its keys
	}
	s.sources[loc.raw] = weak.Make(src)
	return src, nil
}

// live returns the registered sources still held by a mutator and forgets
// the others.
func (s *Signers) live() []*source {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*source, 0, len(s.sources))
	for raw, wp := range s.sources {
		if src := wp.Value(); src != nil {
			out = append(out, src)
		} else {
			delete(s.sources, raw)
		}
	}
	return out
}

// Run re-reads every live key set each RefreshInterval until ctx is done,
// then returns nil. A failed refresh keeps the last good keys for MaxStale.
// Run is optional; start it once, from the process that owns Signers.
func (s *Signers) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.refreshAll(ctx)
		}
	}
}

// refreshAll refreshes the live sources one after the other, so a refresh
// round opens at most one connection at a time.
func (s *Signers) refreshAll(ctx context.Context) {
	for _, src := range s.live() {
		if ctx.Err() != nil {
			return
		}
		s.refresh(ctx, src)
	}
}

// refresh loads src again. An unchanged document keeps its parsed keys (and
// so the cached tokens); a changed one replaces them; a failure, including a
// document without a usable private key, keeps the old keys and starts the
// MaxStale clock.
func (s *Signers) refresh(ctx context.Context, src *source) {
	old := src.state.Load()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	data, err := s.fetch(ctx, src.loc)
	var keys *keySet
	if err == nil {
		if sum := sha256.Sum256(data); sum == old.sum {
			keys = old.keys
		} else if keys, err = parseKeySet(data); err == nil {
			s.log.Info("id_token signing keys reloaded", zap.String("jwks_url", redactURL(src.loc)), zap.String("kid", keys.signer.kid))
		}
	}
	if err != nil {
		next := *old
		next.lastErr = err
		if next.failingSince.IsZero() {
			next.failingSince = s.now()
		}
		src.state.Store(&next)
		s.log.Warn("id_token signing keys refresh failed; keeping the last good keys",
			zap.String("jwks_url", redactURL(src.loc)), zap.Time("failing_since", next.failingSince), zap.Error(err))
		return
	}
	src.state.Store(&sourceState{keys: keys, sum: sha256.Sum256(data)})
}

// errNoClient is returned for an http(s) source when Options.Client is nil.
var errNoClient = errors.New("no outbound client configured for http(s) jwks_url")
