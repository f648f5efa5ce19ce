package remotecall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// testClock is a Clock that moves only when told, or by the pauses Retry
// takes. It starts a day ahead of the real time, so that no context
// deadline derived from it expires while a test runs: only Retry's
// reading of the fake time decides.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now().Add(24 * time.Hour)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *testClock) Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	c.Advance(d)
	return true
}

// breakerWorld is an outbound client whose circuits run on a fake clock
// without jitter.
type breakerWorld struct {
	clk    *testClock
	client *outbound.Client
}

func newBreakerWorld() *breakerWorld {
	clk := newTestClock()
	reg := breaker.NewRegistry(breaker.Options{Now: clk.Now, Jitter: func(time.Duration) time.Duration { return 0 }})
	return &breakerWorld{clk: clk, client: outbound.New(outbound.Options{Breakers: reg})}
}

// endpoint is a single-attempt endpoint at rawURL whose circuit opens
// after 5 failures for 2s (the defaults).
func (w *breakerWorld) endpoint(t *testing.T, rawURL string) *Endpoint {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := BreakerConfig{}
	if err := c.Validate("circuit_breaker"); err != nil {
		t.Fatal(err)
	}
	return &Endpoint{Client: w.client, URL: u, Retry: Retry{AttemptTimeout: time.Second, Clock: w.clk}, Breaker: c.Breaker(w.client, u)}
}

func post(e *Endpoint) (*outbound.Response, error) {
	return e.Post(context.Background(), nil, http.Header{}, []byte(`token=t`))
}

// countingServer answers with the status status returns; hits counts the
// requests that reached it.
type countingServer struct {
	*httptest.Server
	hits   atomic.Int32
	status atomic.Int32
}

func newCountingServer(t *testing.T, status int) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.status.Store(int32(status))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if st := int(s.status.Load()); st >= 300 && st < 400 {
			http.Redirect(w, r, "http://127.0.0.1:1/", st)
			return
		}
		w.WriteHeader(int(s.status.Load()))
		fmt.Fprint(w, `{"active":false}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestCircuitOpensFailsFastAndRecovers(t *testing.T) {
	w := newBreakerWorld()
	// The probe is held at the server until released, so that a call made
	// meanwhile can be seen to fail fast.
	probeArrived, releaseProbe := make(chan struct{}), make(chan struct{})
	var hits atomic.Int32
	var holdProbe atomic.Bool
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		if holdProbe.CompareAndSwap(true, false) {
			close(probeArrived)
			<-releaseProbe
		}
		rw.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	e := w.endpoint(t, srv.URL+"/introspect")

	for i := range breaker.DefaultConsecutiveFailures {
		if resp, err := post(e); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("call %d: %v, %v; want the 503", i, resp, err)
		}
	}
	if _, err := post(e); !errors.Is(err, outbound.ErrCircuitOpen) {
		t.Fatalf("after %d failures: err = %v, want the circuit open", breaker.DefaultConsecutiveFailures, err)
	}
	if got := hits.Load(); got != breaker.DefaultConsecutiveFailures {
		t.Fatalf("server hit %d times, want %d: an open circuit sent the call", got, breaker.DefaultConsecutiveFailures)
	}

	w.clk.Advance(breaker.DefaultOpenFor)
	status.Store(http.StatusOK)
	holdProbe.Store(true)
	probe := make(chan error, 1)
	go func() {
		resp, err := post(e)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("probe answered %d", resp.StatusCode)
		}
		probe <- err
	}()
	<-probeArrived
	if _, err := post(e); !errors.Is(err, outbound.ErrCircuitOpen) {
		t.Fatalf("while the probe is out: err = %v, want the circuit open", err)
	}
	close(releaseProbe)
	if err := <-probe; err != nil {
		t.Fatalf("probe: %v", err)
	}
	if got := hits.Load(); got != breaker.DefaultConsecutiveFailures+1 {
		t.Fatalf("server hit %d times, want exactly one probe", got)
	}
	for i := range 3 {
		if resp, err := post(e); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d after the probe: %v, %v; want the circuit closed", i, resp, err)
		}
	}
}

func TestAnswersNeverOpenTheCircuit(t *testing.T) {
	for _, status := range []int{200, 400, 401, 403, 404, 409, 429, 501, 302} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			w := newBreakerWorld()
			srv := newCountingServer(t, status)
			e := w.endpoint(t, srv.URL)
			const n = 3 * breaker.DefaultConsecutiveFailures
			for i := range n {
				if _, err := post(e); errors.Is(err, outbound.ErrCircuitOpen) {
					t.Fatalf("call %d: circuit open after %d answers %d", i, i, status)
				}
			}
			if srv.hits.Load() != n {
				t.Fatalf("server hit %d times, want %d", srv.hits.Load(), n)
			}
		})
	}
}

func TestUnreachableEndpointOpensTheCircuit(t *testing.T) {
	w := newBreakerWorld()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	e := w.endpoint(t, gone.URL)
	for i := range breaker.DefaultConsecutiveFailures {
		if _, err := post(e); err == nil || errors.Is(err, outbound.ErrCircuitOpen) {
			t.Fatalf("call %d: err = %v, want a connection error", i, err)
		}
	}
	if _, err := post(e); !errors.Is(err, outbound.ErrCircuitOpen) {
		t.Fatalf("err = %v, want the circuit open", err)
	}
}

func TestCircuitIsSharedPerURLNotPerHost(t *testing.T) {
	w := newBreakerWorld()
	srv := newCountingServer(t, http.StatusBadGateway)
	first := w.endpoint(t, srv.URL+"/introspect")
	second := w.endpoint(t, srv.URL+"/introspect") // another handler, same URL
	other := w.endpoint(t, srv.URL+"/decide")      // same host, other URL
	for range breaker.DefaultConsecutiveFailures {
		_, _ = post(first)
	}
	before := srv.hits.Load()
	if _, err := post(second); !errors.Is(err, outbound.ErrCircuitOpen) {
		t.Fatalf("same URL: err = %v, want the shared circuit open", err)
	}
	if srv.hits.Load() != before {
		t.Fatal("same URL: the call reached the server")
	}
	if _, err := post(other); err != nil {
		t.Fatalf("same host, other URL: err = %v, want the call sent", err)
	}
	if srv.hits.Load() != before+1 {
		t.Fatal("same host, other URL: the call did not reach the server")
	}
}

// TestOutcomesOfAttempts: what an attempt says about the endpoint. A
// timeout counts only when the attempt was given its whole timeout or at
// least TimeoutEvidence: a check whose budget was all but spent before the
// call must not open the circuit of a healthy endpoint.
func TestOutcomesOfAttempts(t *testing.T) {
	timeout := fmt.Errorf("POST http://idp.test: %w", context.DeadlineExceeded)
	tests := []struct {
		name     string
		attempt  time.Duration // AttemptTimeout
		left     time.Duration // the caller's deadline, from now (0: none)
		cancel   bool          // the caller gives up during the attempt
		resp     *outbound.Response
		err      error
		wantRuns int // the run of failures after one failure and this attempt
	}{
		{name: "5xx fails", resp: &outbound.Response{StatusCode: 503}, wantRuns: 2},
		{name: "501 is an answer", resp: &outbound.Response{StatusCode: 501}, wantRuns: 0},
		{name: "4xx is an answer", resp: &outbound.Response{StatusCode: 403}, wantRuns: 0},
		{name: "200 is an answer", resp: &outbound.Response{StatusCode: 200}, wantRuns: 0},
		{name: "a refused redirect is an answer", err: fmt.Errorf("x: %w", outbound.ErrRedirect), wantRuns: 0},
		{name: "an oversized body is an answer", err: fmt.Errorf("x: %w", outbound.ErrBodyTooLarge), wantRuns: 0},
		{name: "connection refused fails", err: fmt.Errorf("dial: %w", syscall.ECONNREFUSED), wantRuns: 2},
		{name: "own timeout fails", attempt: time.Second, err: timeout, wantRuns: 2},
		{name: "timeout with enough of the budget fails", attempt: time.Second, left: TimeoutEvidence, err: timeout, wantRuns: 2},
		{name: "timeout with the budget nearly spent is ignored", attempt: time.Second, left: TimeoutEvidence - time.Millisecond, err: timeout, wantRuns: 1},
		{name: "short own timeout given in full fails", attempt: 30 * time.Millisecond, left: 30 * time.Millisecond, err: timeout, wantRuns: 2},
		{name: "short own timeout cut by the budget is ignored", attempt: 30 * time.Millisecond, left: 29 * time.Millisecond, err: timeout, wantRuns: 1},
		{name: "caller gone is ignored", cancel: true, err: context.Canceled, wantRuns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newBreakerWorld()
			u, _ := url.Parse("http://idp.test/introspect")
			b := w.client.Breaker(u, breaker.Settings{ConsecutiveFailures: 10})
			p := Retry{AttemptTimeout: tt.attempt, Clock: w.clk}
			_, _ = p.DoWithBreaker(context.Background(), b, func(context.Context) (*outbound.Response, error) {
				return nil, errors.New("connection reset")
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.left > 0 {
				ctx, cancel = context.WithDeadline(ctx, w.clk.Now().Add(tt.left))
				defer cancel()
			}
			_, _ = p.DoWithBreaker(ctx, b, func(context.Context) (*outbound.Response, error) {
				if tt.cancel {
					cancel()
				}
				return tt.resp, tt.err
			})
			if got := w.client.BreakerStates()[0].ConsecutiveFailures; got != tt.wantRuns {
				t.Fatalf("run of failures %d, want %d", got, tt.wantRuns)
			}
		})
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	off := false
	tests := []struct {
		name    string
		c       BreakerConfig
		want    BreakerConfig
		wantErr string
	}{
		{name: "defaults", want: BreakerConfig{ConsecutiveFailures: 5, OpenFor: pipeline.Duration(2 * time.Second)}},
		{name: "explicit values are kept", c: BreakerConfig{ConsecutiveFailures: 2, OpenFor: pipeline.Duration(time.Minute)},
			want: BreakerConfig{ConsecutiveFailures: 2, OpenFor: pipeline.Duration(time.Minute)}},
		{name: "disabled", c: BreakerConfig{Enabled: &off}, want: BreakerConfig{Enabled: &off, ConsecutiveFailures: 5, OpenFor: pipeline.Duration(2 * time.Second)}},
		{name: "negative threshold", c: BreakerConfig{ConsecutiveFailures: -1}, wantErr: "circuit_breaker.consecutive_failures: must not be negative"},
		{name: "negative open_for", c: BreakerConfig{OpenFor: -1}, wantErr: "circuit_breaker.open_for: must not be negative"},
		{name: "open_for above a minute", c: BreakerConfig{OpenFor: pipeline.Duration(time.Minute + 1)},
			wantErr: "circuit_breaker.open_for: 1m0.000000001s exceeds the maximum 1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate("circuit_breaker")
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.c.ConsecutiveFailures != tt.want.ConsecutiveFailures || tt.c.OpenFor != tt.want.OpenFor {
				t.Fatalf("got %+v, want %+v", tt.c, tt.want)
			}
		})
	}
	u, _ := url.Parse("http://idp.test/")
	if b := (BreakerConfig{Enabled: &off}).Breaker(outbound.New(outbound.Options{}), u); b != nil {
		t.Fatal("enabled: false still returns a breaker")
	}
}

func TestAuthorizerCallErrorNamesTheOpenCircuit(t *testing.T) {
	err := AuthorizerCallError("remote_json", fmt.Errorf("http://authz.test/decide: %w", outbound.ErrCircuitOpen))
	if err.Status != http.StatusServiceUnavailable || err.ID != "remote_json_circuit_open" {
		t.Fatalf("got %d %s, want 503 remote_json_circuit_open", err.Status, err.ID)
	}
}

func breakerSettings(failures int) breaker.Settings {
	return breaker.Settings{ConsecutiveFailures: failures, OpenFor: breaker.DefaultOpenFor}
}

// newRecordingServer answers with statuses in order, the last repeating;
// seen returns "METHOD body" of every request so far.
func newRecordingServer(t *testing.T, statuses ...int) (srv *httptest.Server, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+string(b))
		n := len(got)
		mu.Unlock()
		w.WriteHeader(statuses[min(n, len(statuses))-1])
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestPanickingProbeFreesTheCircuit: a probe whose attempt panics (the
// pipeline recovers the panic) must not leave the circuit waiting for an
// outcome that never comes, refusing every call until a restart.
func TestPanickingProbeFreesTheCircuit(t *testing.T) {
	w := newBreakerWorld()
	u, _ := url.Parse("http://idp.test/introspect")
	b := w.client.Breaker(u, breakerSettings(1))
	p := Retry{AttemptTimeout: time.Second, Clock: w.clk}
	answer := func(status int) func(context.Context) (*outbound.Response, error) {
		return func(context.Context) (*outbound.Response, error) { return &outbound.Response{StatusCode: status}, nil }
	}
	_, _ = p.DoWithBreaker(context.Background(), b, answer(http.StatusServiceUnavailable))
	w.clk.Advance(breaker.DefaultOpenFor)
	func() {
		defer func() { _ = recover() }()
		_, _ = p.DoWithBreaker(context.Background(), b, func(context.Context) (*outbound.Response, error) { panic("probe") })
	}()
	if resp, err := p.DoWithBreaker(context.Background(), b, answer(http.StatusOK)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after a panicking probe: %v, %v; want the next call to probe", resp, err)
	}
}
