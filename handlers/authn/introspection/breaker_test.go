package introspection

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// breakerClock is the fake clock of the circuit breakers.
type breakerClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *breakerClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *breakerClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// breakerDeps are deps whose circuit breakers run on clk without jitter.
func breakerDeps() (*deps, *breakerClock) {
	clk := &breakerClock{now: time.Now()}
	reg := breaker.NewRegistry(breaker.Options{Now: clk.Now, Jitter: func(time.Duration) time.Duration { return 0 }})
	return &deps{client: outbound.New(outbound.Options{Breakers: reg}), cache: NewCache(remotecall.CacheOptions{}),
		tokens: oauth2cc.NewCache(remotecall.CacheOptions{}), now: time.Now()}, clk
}

// fastRetry retries at once, as often as MaxAttempts allows: whether a
// retry happens never depends on the machine's speed.
var fastRetry = map[string]any{"max_delay": "1ms", "give_up_after": "1m"}

func TestCircuitOpensOnFailuresAndRecovers(t *testing.T) {
	p := newIDP(t, map[string]string{"t": `{"active":true,"sub":"alice"}`})
	p.set(http.StatusBadGateway, nil)
	d, clk := breakerDeps()
	a, err := d.build(t, map[string]any{"introspection_url": p.URL, "retry": fastRetry, "timeout": "1s"})
	if err != nil {
		t.Fatal(err)
	}
	auth := func() error { return a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{}) }

	// One check retries MaxAttempts times: five 502s in a row.
	if err := auth(); pipeline.ReasonOf(err, "") != IDFailed {
		t.Fatalf("first check: %v, want %s", err, IDFailed)
	}
	if got := p.calls.Load(); got != remotecall.MaxAttempts {
		t.Fatalf("%d calls, want %d", got, remotecall.MaxAttempts)
	}
	// The next checks fail fast without reaching the endpoint.
	for range 3 {
		err := auth()
		if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != IDCircuitOpen {
			t.Fatalf("err = %v, want 503 %s", err, IDCircuitOpen)
		}
	}
	if got := p.calls.Load(); got != remotecall.MaxAttempts {
		t.Fatalf("%d calls, want %d: an open circuit sent a call", got, remotecall.MaxAttempts)
	}
	// After the open period one probe goes out; it succeeds and closes the
	// circuit.
	p.set(http.StatusOK, nil)
	clk.Advance(breaker.DefaultOpenFor)
	if err := auth(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := auth(); err != nil {
		t.Fatalf("after the probe: %v", err)
	}
	if got := p.calls.Load(); got != remotecall.MaxAttempts+2 {
		t.Fatalf("%d calls, want %d", got, remotecall.MaxAttempts+2)
	}
}

// TestInactiveAndRefusedAnswersNeverOpenTheCircuit: an inactive token is
// a valid answer, and a 4xx is the endpoint speaking; neither is the
// endpoint being down.
func TestInactiveAndRefusedAnswersNeverOpenTheCircuit(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest, http.StatusTooManyRequests} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			p := newIDP(t, nil) // every token is inactive
			p.set(status, nil)
			d, _ := breakerDeps()
			a, err := d.build(t, map[string]any{"introspection_url": p.URL, "retry": fastRetry, "circuit_breaker": map[string]any{"consecutive_failures": 1}})
			if err != nil {
				t.Fatal(err)
			}
			const n = 10
			for i := range n {
				err := a.Authenticate(context.Background(), bearer("revoked"), &pipeline.Session{})
				if err == nil || pipeline.ReasonOf(err, "") == IDCircuitOpen {
					t.Fatalf("check %d: err = %v", i, err)
				}
			}
			if got := p.calls.Load(); got != n {
				t.Fatalf("%d calls, want %d", got, n)
			}
		})
	}
}

func TestCircuitBreakerCanBeTurnedOff(t *testing.T) {
	p := newIDP(t, nil)
	p.set(http.StatusServiceUnavailable, nil)
	d, _ := breakerDeps()
	a, err := d.build(t, map[string]any{"introspection_url": p.URL, "retry": fastRetry,
		"circuit_breaker": map[string]any{"enabled": false, "consecutive_failures": 1}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{}); pipeline.ReasonOf(err, "") != IDFailed {
			t.Fatalf("err = %v, want %s", err, IDFailed)
		}
	}
	if got := p.calls.Load(); got != 3*remotecall.MaxAttempts {
		t.Fatalf("%d calls, want every attempt sent", got)
	}
}

// TestRetryBlockRetriesThePOST: the introspection call is a POST, and the
// retry block retries it, with the same form each time.
func TestRetryBlockRetriesThePOST(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+string(b))
		mu.Unlock()
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"active":true,"sub":"alice"}`)
	}))
	defer srv.Close()
	d, _ := breakerDeps()
	a, err := d.build(t, map[string]any{"introspection_url": srv.URL, "retry": fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Session{}
	if err := a.Authenticate(context.Background(), bearer("t"), s); err != nil || s.Subject != "alice" {
		t.Fatalf("err %v, subject %q; want alice after a retry", err, s.Subject)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "POST token=t" || seen[1] != seen[0] {
		t.Fatalf("endpoint saw %q, want the same POST twice", seen)
	}
}

func TestCircuitBreakerConfigIsValidated(t *testing.T) {
	tests := []struct {
		block   map[string]any
		wantErr string
	}{
		{map[string]any{"consecutive_failures": -1}, "circuit_breaker.consecutive_failures: must not be negative"},
		{map[string]any{"open_for": "-1s"}, "circuit_breaker.open_for: must not be negative"},
		{map[string]any{"open_for": "2m"}, "circuit_breaker.open_for: 2m0s exceeds the maximum 1m0s"},
		{map[string]any{"open_after": 3}, `unknown field "open_after"`},
	}
	for _, tt := range tests {
		t.Run(tt.wantErr, func(t *testing.T) {
			_, err := newDeps().build(t, map[string]any{"introspection_url": "https://idp.test/introspect", "circuit_breaker": tt.block})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
