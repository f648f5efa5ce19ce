package jwks

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

// Defaults for Options.
const (
	DefaultTTL                = 30 * time.Second
	DefaultMinRefetchInterval = 5 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultBackoffMin         = 250 * time.Millisecond
	DefaultMaxStale           = 24 * time.Hour
)

// ErrClosed is returned by Register after Close.
var ErrClosed = errors.New("jwks cache closed")

// Options configure a Cache. Zero values select the defaults.
type Options struct {
	// Client fetches http(s) sets. Without it only file:// URLs work.
	Client *outbound.Client
	// Logger receives fetch failures and dropped keys (never key
	// material). Default: no logging.
	Logger *zap.Logger
	// TTL is the refresh interval of a set registered without one
	// (default 30s); rules pass their jwks_ttl to Register.
	TTL time.Duration
	// MinRefetchInterval is the least time between two on-demand fetches
	// of one URL, triggered by an unknown kid or a caller with no keys
	// (default 5s).
	MinRefetchInterval time.Duration
	// FetchTimeout bounds one fetch (default 5s).
	FetchTimeout time.Duration
	// BackoffMin and BackoffMax bound the exponential retry delay after a
	// failed fetch (defaults 250ms and TTL); the delay never exceeds the
	// source's own refresh interval either.
	BackoffMin, BackoffMax time.Duration
	// MaxStale is how long the last good keys keep serving without a
	// successful fetch (default 24h; negative means forever).
	MaxStale time.Duration
	// MaxBodyBytes caps file:// reads (default outbound's body limit).
	MaxBodyBytes int64
	// Now is the clock every interval above is measured with (default
	// time.Now). Tests inject a manual clock to count fetches per
	// interval without racing the wall clock.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MinRefetchInterval <= 0 {
		o.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = o.TTL
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.MaxStale == 0 {
		o.MaxStale = DefaultMaxStale
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = outbound.DefaultMaxBodyBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Cache holds one Source per distinct URL for the whole process. Register,
// Current, Await and Refetch are safe for concurrent use. Background
// refreshes happen only while Run is running; on-demand fetches work
// without it. Every goroutine the cache starts has finished when Close (or
// Run, once its context ends) returns.
type Cache struct {
	o   Options
	log *zap.Logger

	// ctx is the parent of every fetch; cancel ends them all.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	// mu guards the registry; life guards closed and wg.Add. Lock order:
	// mu, then a Source's mu, then life.
	mu      sync.Mutex
	sources map[string]*Source
	running bool
	runDone chan struct{}

	life   sync.Mutex
	closed bool
}

// New returns a Cache. Call Run to get background refreshes and Close (or
// end Run's context) to stop it.
func New(o Options) *Cache {
	o.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Cache{
		o:       o,
		log:     o.Logger.Named("jwks"),
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
		sources: map[string]*Source{},
	}
}

// Register returns the Source for rawURL, creating it on first use and
// asking Run to fetch it right away. ttl is the refresh interval this
// registration asks for (0 means Options.TTL); a URL registered several
// times refreshes at the shortest interval asked for. Each
// Register should be paired with a Release when the rule goes away.
// Register is meant for rule compile time, not for the request path.
func (c *Cache) Register(rawURL string, ttl time.Duration) (*Source, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	key := u.String()
	if c.isClosed() {
		return nil, ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sources[key]
	if !ok {
		s = newSource(c, u)
		c.sources[key] = s
	}
	s.refs++
	if ttl <= 0 {
		ttl = c.o.TTL
	}
	s.lowerTTL(ttl)
	c.signal()
	return s, nil
}

// Release drops one registration of s. The last release stops background
// refreshes of its URL; holders of s can still read its keys.
func (c *Cache) Release(s *Source) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.refs--
	if s.refs <= 0 && c.sources[s.key] == s {
		delete(c.sources, s.key)
	}
}

// signal wakes Run without blocking.
func (c *Cache) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run refreshes registered sets until ctx is done or Close is called, then
// stops every fetch and returns nil. Only one Run may be active.
func (c *Cache) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.isClosed() || c.running {
		c.mu.Unlock()
		return errors.New("jwks cache: run after close or twice")
	}
	c.running = true
	c.runDone = make(chan struct{})
	c.mu.Unlock()
	defer func() {
		c.shutdown()
		close(c.runDone)
	}()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := c.startDue(c.o.Now())
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-c.ctx.Done():
			return nil
		case <-c.wake:
		case <-timer.C:
		}
	}
}

// startDue starts the fetches that are due and returns the time until the
// next one is.
func (c *Cache) startDue(now time.Time) time.Duration {
	c.mu.Lock()
	srcs := make([]*Source, 0, len(c.sources))
	for _, s := range c.sources {
		srcs = append(srcs, s)
	}
	c.mu.Unlock()
	wait := time.Hour
	for _, s := range srcs {
		if d := s.scheduled(now); d > 0 && d < wait {
			wait = d
		}
	}
	return wait
}

// Close stops Run and every fetch and waits for them. It is idempotent.
func (c *Cache) Close() error {
	c.shutdown()
	c.mu.Lock()
	done := c.runDone
	c.mu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}

func (c *Cache) shutdown() {
	c.life.Lock()
	c.closed = true
	c.life.Unlock()
	c.cancel()
	c.wg.Wait()
}

func (c *Cache) isClosed() bool {
	c.life.Lock()
	defer c.life.Unlock()
	return c.closed
}

// goFetch runs f in a goroutine owned by the cache, unless it is closed.
func (c *Cache) goFetch(f func()) bool {
	c.life.Lock()
	defer c.life.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}
