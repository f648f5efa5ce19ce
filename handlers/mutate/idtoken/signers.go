package idtoken

import (
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
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
	// DefaultRetryMin and DefaultRetryMax bound the backoff between
	// attempts to load a key set that has never loaded.
	DefaultRetryMin = time.Second
	DefaultRetryMax = time.Minute
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
	// RetryMin and RetryMax bound the exponential backoff (with jitter)
	// between Run's attempts to load a key set that could not be fetched
	// when its first rule was built (defaults 1s and 1m).
	RetryMin, RetryMax time.Duration
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
	retryMin time.Duration
	retryMax time.Duration
	now      func() time.Time
	cache    *tokenCache
	// wake tells Run that a key set is missing and needs retries.
	wake chan struct{}

	mu      sync.Mutex
	sources map[string]weak.Pointer[source]
}

// NewSigners returns an empty registry. Without Run, each key set is
// loaded once, when the first mutator naming it is built.
func NewSigners(o Options) *Signers {
	s := &Signers{
		client: o.Client, log: o.Logger, interval: o.RefreshInterval, maxStale: o.MaxStale,
		timeout: o.FetchTimeout, retryMin: o.RetryMin, retryMax: o.RetryMax, now: o.Now,
		sources: map[string]weak.Pointer[source]{}, wake: make(chan struct{}, 1),
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
	if s.retryMin <= 0 {
		s.retryMin = DefaultRetryMin
	}
	if s.retryMax <= 0 {
		s.retryMax = DefaultRetryMax
	}
	s.retryMax = max(s.retryMax, s.retryMin)
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

	// tries and nextTry schedule the retries of a source that has no keys
	// yet. They are set before the source is published and only Run's
	// goroutine touches them afterwards.
	tries   int
	nextTry time.Time

	fetchErrors atomic.Uint64 // failed loads in all, for metrics
}

// sourceState is immutable once published.
type sourceState struct {
	// keys is nil while the set has never loaded: the mutators using it
	// answer 503 id_token_keys_unavailable and Run retries.
	keys     *keySet
	sum      [32]byte  // sha256 of the document the keys came from
	loadedAt time.Time // when keys were last loaded or confirmed unchanged
	// failingSince is when refreshes started failing; zero while the last
	// refresh succeeded.
	failingSince time.Time
	lastErr      error
}

// usable reports whether the keys may still sign at now.
func (st *sourceState) usable(now time.Time, maxStale time.Duration) bool {
	return st.keys != nil && (st.failingSince.IsZero() || now.Sub(st.failingSince) < maxStale)
}

// source returns the registered source for loc, loading it first if no
// live mutator holds it.
//
// A key set that cannot be fetched (endpoint down, not found, file absent)
// does not fail the rule: Oathkeeper resolves it when a request needs it,
// and a rule set refused at start-up for that reason would crash-loop a
// pod while its identity provider starts. The source is registered without
// keys, its mutators answer 503 id_token_keys_unavailable, Run retries
// with backoff, and one warning says so. A set that is fetched but cannot
// sign (not a JWKS, a symmetric key, no private key) is a configuration
// error no retry fixes: the rule does not load. So is a document over the
// size limit.
func (s *Signers) source(loc jwksLocation) (*source, error) {
	s.mu.Lock()
	if src := s.sources[loc.raw].Value(); src != nil {
		s.mu.Unlock()
		return src, nil
	}
	s.mu.Unlock()
	if loc.path == "" && s.client == nil {
		return nil, errNoClient
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	src := &source{loc: loc}
	data, fetchErr := s.fetch(ctx, loc)
	if errors.Is(fetchErr, errFileTooLarge) || errors.Is(fetchErr, outbound.ErrBodyTooLarge) {
		return nil, fetchErr // read, and not a key set: configuration, like a parse error
	}
	if fetchErr != nil {
		src.fetchErrors.Add(1)
		src.state.Store(&sourceState{failingSince: s.now(), lastErr: fetchErr})
		src.tries, src.nextTry = 1, time.Now().Add(s.backoff(1))
	} else {
		keys, err := parseKeySet(data)
		if err != nil {
			return nil, err
		}
		src.state.Store(&sourceState{keys: keys, sum: sha256.Sum256(data), loadedAt: s.now()})
	}

	s.mu.Lock()
	if other := s.sources[loc.raw].Value(); other != nil {
		s.mu.Unlock()
		return other, nil // a concurrent New won the race; share its keys
	}
	s.sources[loc.raw] = weak.Make(src)
	s.mu.Unlock()
	if fetchErr != nil {
		s.log.Warn("id_token signing keys unavailable; rules using them answer 503 id_token_keys_unavailable until they load, retrying in the background",
			zap.String("jwks_url", redactURL(loc)), zap.Error(fetchErr))
		s.signal()
	}
	return src, nil
}

// signal wakes Run without blocking.
func (s *Signers) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// backoff returns the delay before retry number tries+1 of a missing key
// set: RetryMin doubled per failed try, capped at RetryMax, plus up to 10%
// jitter so that replicas do not retry in lockstep.
func (s *Signers) backoff(tries int) time.Duration {
	d := s.retryMin
	for i := 1; i < tries && d < s.retryMax; i++ {
		d *= 2
	}
	d = min(d, s.retryMax)
	return d + rand.N(d/10+1)
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

// Run re-reads every live key set each RefreshInterval, and retries the
// sets that never loaded with backoff between RetryMin and RetryMax, until
// ctx is done, then returns nil. A failed refresh keeps the last good keys
// for MaxStale. Without Run, a set that could not be fetched when its
// first rule was built never loads; start Run once, from the process that
// owns Signers.
func (s *Signers) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	retry := time.NewTimer(s.retryMissing(ctx))
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.refreshAll(ctx)
		case <-s.wake:
		case <-retry.C:
		}
		retry.Reset(s.retryMissing(ctx))
	}
}

// retryMissing tries to load every live source without keys whose retry is
// due, and returns the time until the next one is.
func (s *Signers) retryMissing(ctx context.Context) time.Duration {
	wait := s.interval
	for _, src := range s.live() {
		if src.state.Load().keys != nil {
			continue
		}
		if d := time.Until(src.nextTry); d > 0 {
			wait = min(wait, d)
			continue
		}
		if ctx.Err() != nil {
			return wait
		}
		s.refresh(ctx, src)
		if src.state.Load().keys == nil {
			src.tries++
			d := s.backoff(src.tries)
			src.nextTry = time.Now().Add(d)
			wait = min(wait, d)
		}
	}
	return wait
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
// MaxStale clock. A source that never loaded logged its outage when it was
// registered: its failed retries log at debug level only, and its first
// load says so once.
func (s *Signers) refresh(ctx context.Context, src *source) {
	old := src.state.Load()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	data, err := s.fetch(ctx, src.loc)
	var keys *keySet
	if err == nil {
		if sum := sha256.Sum256(data); old.keys != nil && sum == old.sum {
			keys = old.keys
		} else if keys, err = parseKeySet(data); err == nil {
			msg := "id_token signing keys reloaded"
			if old.keys == nil {
				msg = "id_token signing keys loaded; rules using them sign again"
			}
			s.log.Info(msg, zap.String("jwks_url", redactURL(src.loc)), zap.String("kid", keys.signer.kid))
		}
	}
	if err != nil {
		src.fetchErrors.Add(1)
		next := *old
		next.lastErr = err
		if next.failingSince.IsZero() {
			next.failingSince = s.now()
		}
		src.state.Store(&next)
		if old.keys == nil {
			s.log.Debug("id_token signing keys still unavailable", zap.String("jwks_url", redactURL(src.loc)), zap.Error(err))
			return
		}
		s.log.Warn("id_token signing keys refresh failed; keeping the last good keys",
			zap.String("jwks_url", redactURL(src.loc)), zap.Time("failing_since", next.failingSince), zap.Error(err))
		return
	}
	src.state.Store(&sourceState{keys: keys, sum: sha256.Sum256(data), loadedAt: s.now()})
}

// errNoClient is returned for an http(s) source when Options.Client is nil.
var errNoClient = errors.New("no outbound client configured for http(s) jwks_url")
