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
// the test ends.
func newCache(t testing.TB, o Options) *Cache {
	t.Helper()
	if o.Client == nil {
		o.Client = outbound.New(outbound.Options{Timeout: 2 * time.Second})
	}
	c := New(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond until it holds or the bounded deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
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
