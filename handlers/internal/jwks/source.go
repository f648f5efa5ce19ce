package jwks

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Source is one JWKS URL. Its current keys are read without locks; the
// fields under mu describe fetching.
type Source struct {
	c       *Cache
	key     string
	u       *url.URL
	display string // redacted URL for logs and errors

	set    atomic.Pointer[Set]
	lastOK atomic.Int64 // unix nanos of the last successful fetch

	mu          sync.Mutex
	refs        int // guarded by c.mu
	ttl         time.Duration
	inflight    chan struct{} // closed when the running fetch ends
	lastAttempt time.Time     // start of the last fetch of any kind
	next        time.Time     // when Run fetches next
	failures    int           // consecutive failed fetches
	fetchErrors uint64        // failed fetches in all, for metrics
	lastErr     error
}

func newSource(c *Cache, u *url.URL) *Source {
	return &Source{c: c, key: u.String(), u: u, display: Redact(u)}
}

// URL returns the source URL without query or user info.
func (s *Source) URL() string { return s.display }

// lowerTTL applies a registration's ttl if it is the first or shorter.
func (s *Source) lowerTTL(ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ttl == 0 || ttl < s.ttl {
		s.ttl = ttl
		if !s.lastAttempt.IsZero() && s.failures == 0 {
			if n := s.lastAttempt.Add(ttl); n.Before(s.next) {
				s.next = n
			}
		}
	}
}

// Current returns the last good set, or nil when none was ever loaded or
// the last success is older than Options.MaxStale. It takes no lock.
func (s *Source) Current() *Set {
	set := s.set.Load()
	if set == nil {
		return nil
	}
	if ms := s.c.o.MaxStale; ms > 0 && s.c.o.Now().Sub(time.Unix(0, s.lastOK.Load())) > ms {
		return nil
	}
	return set
}

// Err returns the error of the last fetch, nil after a success.
func (s *Source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// scheduled starts a background fetch if one is due and returns the time
// until the next is (0 while one is running: the end of the fetch wakes
// Run).
func (s *Source) scheduled(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return 0
	}
	if d := s.next.Sub(now); d > 0 {
		return d
	}
	s.startLocked(now)
	return 0
}

// demand joins the running fetch or, rate-limited to one per
// MinRefetchInterval, starts one. It returns the channel to wait on, or nil
// when no fetch is running and none may start yet.
func (s *Source) demand(now time.Time) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.c.o.MinRefetchInterval {
		return nil
	}
	return s.startLocked(now)
}

// startLocked starts a fetch; s.mu must be held.
func (s *Source) startLocked(now time.Time) chan struct{} {
	done := make(chan struct{})
	if !s.c.goFetch(func() { s.fetch(done) }) {
		return nil
	}
	s.inflight = done
	s.lastAttempt = now
	return done
}

// fetch loads the set once and records the outcome.
func (s *Source) fetch(done chan struct{}) {
	ctx, cancel := context.WithTimeout(s.c.ctx, s.c.o.FetchTimeout)
	defer cancel()
	set, err := s.load(ctx)

	s.mu.Lock()
	now := s.c.o.Now()
	if err != nil {
		s.failures++
		s.fetchErrors++
		s.lastErr = err
		s.next = now.Add(s.backoff())
	} else {
		s.failures = 0
		s.lastErr = nil
		s.next = now.Add(s.ttl)
		if old := s.set.Load(); old == nil || old.sum != set.sum {
			s.set.Store(set)
		}
		s.lastOK.Store(now.UnixNano())
	}
	failures := s.failures
	s.inflight = nil
	s.mu.Unlock()

	if err != nil && s.c.ctx.Err() == nil {
		s.c.log.Warn("jwks fetch failed", zap.String("url", s.display), zap.Int("failures", failures), zap.Error(err))
	}
	// Waiters are released once the outcome is recorded, its log line
	// included.
	close(done)
	s.c.signal()
}

// backoff returns the retry delay after s.failures consecutive failures:
// BackoffMin doubled per failure, capped at BackoffMax and at the source's
// TTL (a failing source is never retried less often than a healthy one is
// refreshed), plus up to 10% jitter so that replicas do not retry in
// lockstep.
func (s *Source) backoff() time.Duration {
	limit := max(min(s.c.o.BackoffMax, s.ttl), s.c.o.BackoffMin)
	d := s.c.o.BackoffMin
	for i := 1; i < s.failures && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d + rand.N(d/10+1)
}

// load reads and vets the set.
func (s *Source) load(ctx context.Context) (*Set, error) {
	var (
		body []byte
		err  error
	)
	if s.u.Scheme == "file" {
		body, err = s.readFile()
	} else {
		body, err = s.get(ctx)
	}
	if err != nil {
		return nil, err
	}
	set, dropped, err := ParseSet(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.display, err)
	}
	for _, d := range dropped {
		s.c.log.Warn("jwks key dropped", zap.String("url", s.display), zap.Int("index", d.Index),
			zap.String("kid", d.KID), zap.Error(d.Err))
	}
	return set, nil
}

func (s *Source) get(ctx context.Context) ([]byte, error) {
	if s.c.o.Client == nil {
		return nil, fmt.Errorf("%s: no http client configured", s.display)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.key, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.display, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.c.o.Client.Do(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", s.display, resp.StatusCode)
	}
	return resp.Body, nil
}

func (s *Source) readFile() ([]byte, error) {
	f, err := os.Open(FilePath(s.u))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, s.c.o.MaxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > s.c.o.MaxBodyBytes {
		return nil, fmt.Errorf("%s: file larger than %d bytes", s.display, s.c.o.MaxBodyBytes)
	}
	return body, nil
}
