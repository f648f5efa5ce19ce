package jwks

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

// jwksServer is a loopback JWKS endpoint whose answer tests can change.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	body   []byte
	status int
	delay  time.Duration
	block  bool
	times  []time.Time
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	t.Helper()
	s := &jwksServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		s.times = append(s.times, time.Now())
		body, status, delay, block := s.body, s.status, s.delay, s.block
		s.mu.Unlock()
		if block {
			<-r.Context().Done()
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body != nil {
		s.body = body
	}
	s.status = status
}

func (s *jwksServer) setDelay(d time.Duration, block bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay, s.block = d, block
}

func (s *jwksServer) hitTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.times...)
}

// newCache returns a cache with a real outbound client that is closed when
// the test ends. Fetch timeouts default to a minute: they are failure
// bounds, and a loopback fetch on a loaded machine must not hit them.
func newCache(t testing.TB, o Options) *Cache {
	t.Helper()
	if o.Client == nil {
		o.Client = outbound.New(outbound.Options{Timeout: time.Minute})
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = time.Minute
	}
	c := New(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// manualClock is a clock that moves only when a test advances it.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_800_000_000, 0)} }

// Now returns the current manual time.
func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testDeadline is when a wait for an event gives up: shortly before the
// test binary's -timeout, never earlier, so that a loaded machine cannot
// fail a wait (far in the future when there is no -timeout).
func testDeadline(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-5 * time.Second)
	}
	return time.Now().Add(24 * time.Hour)
}

// eventually polls cond until it holds (see testDeadline).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := testDeadline(t)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// returns runs f and waits until it returns (see testDeadline). Tests use
// it for calls that only a bound under test (a max wait, a cancellation)
// can end.
func returns(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	timer := time.NewTimer(time.Until(testDeadline(t)))
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatalf("%s never returned", what)
	}
}

func mustRegister(t testing.TB, c *Cache, url string) *Source {
	t.Helper()
	s, err := c.Register(url, 0)
	if err != nil {
		t.Fatalf("Register(%q): %v", url, err)
	}
	return s
}
