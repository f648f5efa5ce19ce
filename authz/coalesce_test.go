package authz_test

// Coalescing (issue #9 item 2): concurrent checks that would make the same
// remote call share one in-flight request, and each still answers within
// its own budget. The dependencies here hold every call until the test has
// seen all the checks wait for it, so call counts do not depend on timing.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
)

// waiters is a remotecall.Flight, which says how many checks wait on it.
type waiters interface{ Waiting() int }

// coalesceChecks is how many checks of one credential arrive together.
const coalesceChecks = 200

// heldServer answers every call with body, but only once release is
// closed; it counts the calls it got.
type heldServer struct {
	*httptest.Server
	calls   atomic.Int32
	release chan struct{}
	once    sync.Once
}

func newHeldServer(tb testing.TB, body string) *heldServer {
	tb.Helper()
	s := &heldServer{release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		select {
		case <-s.release:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	tb.Cleanup(s.Close)
	tb.Cleanup(func() { s.open() }) // runs first, so that Close does not wait on held calls
	return s
}

// open lets every held call, and every later one, answer.
func (s *heldServer) open() { s.once.Do(func() { close(s.release) }) }

// waitUntil polls cond, bounded so that a broken cond fails the test
// instead of hanging it.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for range 30_000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("timed out waiting until %s", what)
}

// checkAll sends reqs at once and returns each answer (nil on a gRPC
// error, which is reported).
func checkAll(tb testing.TB, c authv3.AuthorizationClient, deadline time.Duration, reqs []*authv3.CheckRequest) []secResult {
	tb.Helper()
	out := make([]secResult, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			resp, err := c.Check(ctx, req)
			if err != nil {
				tb.Errorf("check %d: gRPC error %v", i, err)
			}
			out[i] = secResult{resp: resp}
		})
	}
	wg.Wait()
	return out
}

func repeat(n int, req func() *authv3.CheckRequest) []*authv3.CheckRequest {
	out := make([]*authv3.CheckRequest, n)
	for i := range out {
		out[i] = req()
	}
	return out
}

// The checks here run under a long budget: only the coalescing is tested.
func coalesceChecker(st authz.Snapshots) *authz.Checker {
	return authz.NewChecker(st, nil, nil, authz.WithBudget(time.Minute, 0))
}

func TestConcurrentChecksOfOneCredentialShareOneCall(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		handler string // the rule's handlers; %[1]s is the dependency's URL
		req     func() *authv3.CheckRequest
		flight  func(*builtin.Deps) waiters
	}{
		{
			name:   "oauth2_introspection",
			answer: `{"active":true,"sub":"alice"}`,
			handler: `authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", retry: {give_up_after: 1m}}}]
  mutators: [{handler: noop}]`,
			req:    func() *authv3.CheckRequest { return secCheck("GET", secHost, "/r", secBearer("opaque-new-token")) },
			flight: func(d *builtin.Deps) waiters { return d.Introspection.Flight() },
		},
		{
			name:   "cookie_session",
			answer: `{"subject":"alice"}`,
			handler: `authenticators: [{handler: cookie_session, config: {check_session_url: "%[1]s/session", timeout: 1m}}]
  mutators: [{handler: noop}]`,
			req: func() *authv3.CheckRequest {
				return secCheck("GET", secHost, "/r", map[string]string{"cookie": "session=new-session"})
			},
			flight: func(d *builtin.Deps) waiters { return d.Sessions.Flight() },
		},
		{
			name:   "bearer_token",
			answer: `{"subject":"alice"}`,
			handler: `authenticators: [{handler: bearer_token, config: {check_session_url: "%[1]s/session", timeout: 1m}}]
  mutators: [{handler: noop}]`,
			req:    func() *authv3.CheckRequest { return secCheck("GET", secHost, "/r", secBearer("new-session-token")) },
			flight: func(d *builtin.Deps) waiters { return d.Sessions.Flight() },
		},
		{
			name:   "hydrator with cache",
			answer: `{"subject":"anonymous","extra":{"plan":"gold"}}`,
			handler: `authenticators: [{handler: anonymous}]
  mutators: [{handler: hydrator, config: {api: {url: "%[1]s/hydrate", retry: {give_up_after: 1m}}, cache: {enabled: true}}}]`,
			req:    func() *authv3.CheckRequest { return secCheck("GET", secHost, "/r", nil) },
			flight: func(d *builtin.Deps) waiters { return d.Hydrations.Flight() },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dep := newHeldServer(t, tt.answer)
			deps, st := budgetWorld(t, fmt.Sprintf(`
- id: r
  match: {url: "https://api.test/r", methods: [GET]}
  authorizer: {handler: allow}
  `+tt.handler+`
`, dep.URL), budgetHooks{})
			c := budgetServe(t, coalesceChecker(st))
			flight := tt.flight(deps)

			done := make(chan []secResult, 1)
			go func() { done <- checkAll(t, c, time.Minute, repeat(coalesceChecks, tt.req)) }()
			waitUntil(t, fmt.Sprintf("all %d checks wait for the call", coalesceChecks), func() bool { return flight.Waiting() == coalesceChecks })
			dep.open()
			for i, r := range <-done {
				if r.resp == nil || !r.allowed() {
					t.Fatalf("check %d: %v, want an allow", i, r)
				}
			}
			if n := dep.calls.Load(); n != 1 {
				t.Fatalf("%d calls for %d concurrent checks of one credential, want 1", n, coalesceChecks)
			}
		})
	}
}

// A coalescing key covers everything that changes the answer: another
// token, or the same token under a rule that asks differently, is a call
// of its own.
func TestCoalescingKeysCoverTokenAndRuleOptions(t *testing.T) {
	dep := newHeldServer(t, `{"active":true,"sub":"alice"}`)
	_, st := budgetWorld(t, fmt.Sprintf(`
- id: a
  match: {url: "https://api.test/a", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", retry: {give_up_after: 1m}, introspection_request_headers: {X-Tenant: a}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: b
  match: {url: "https://api.test/b", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", retry: {give_up_after: 1m}, introspection_request_headers: {X-Tenant: b}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, dep.URL), budgetHooks{})
	c := budgetServe(t, coalesceChecker(st))
	reqs := []*authv3.CheckRequest{
		secCheck("GET", secHost, "/a", secBearer("token-1")),
		secCheck("GET", secHost, "/a", secBearer("token-2")),
		secCheck("GET", secHost, "/b", secBearer("token-1")),
	}
	done := make(chan []secResult, 1)
	go func() { done <- checkAll(t, c, time.Minute, reqs) }()
	waitUntil(t, "three distinct calls arrive", func() bool { return dep.calls.Load() == 3 })
	dep.open()
	for i, r := range <-done {
		if r.resp == nil || !r.allowed() {
			t.Fatalf("check %d: %v, want an allow", i, r)
		}
	}
}

// A check that joined a call answers deadline when its own budget ends,
// while the others still get the call's answer.
func TestCoalescedCheckKeepsItsOwnBudget(t *testing.T) {
	dep := newHeldServer(t, `{"active":true,"sub":"alice"}`)
	deps, st := budgetWorld(t, fmt.Sprintf(`
- id: r
  match: {url: "https://api.test/r", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", retry: {give_up_after: 1m}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, dep.URL), budgetHooks{})
	// The margin leaves the short check's answer ample time to arrive.
	c := budgetServe(t, authz.NewChecker(st, nil, nil, authz.WithBudget(time.Minute, 300*time.Millisecond)))
	req := func() *authv3.CheckRequest { return secCheck("GET", secHost, "/r", secBearer("shared-token")) }

	long := make(chan []secResult, 1)
	go func() { long <- checkAll(t, c, time.Minute, repeat(3, req)) }()
	waitUntil(t, "the long checks wait for the call", func() bool { return deps.Introspection.Flight().Waiting() == 3 })
	budgetSpent(t, budgetCheck(t, c, 500*time.Millisecond, req()))

	dep.open()
	for i, r := range <-long {
		if r.resp == nil || !r.allowed() {
			t.Fatalf("long check %d: %v, want an allow", i, r)
		}
	}
	if n := dep.calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

// JWKS fetches were coalesced before issue #9: a key set is fetched once
// however many checks wait for it.
func TestConcurrentChecksWaitingForKeysShareOneFetch(t *testing.T) {
	secKeys(t)
	dep := newHeldServer(t, string(secIdPKeys(t)))
	_, st := budgetWorld(t, fmt.Sprintf(`
- id: r
  match: {url: "https://api.test/r", methods: [GET]}
  authenticators: [{handler: jwt, config: {jwks_urls: ["%[1]s/jwks.json"], jwks_max_wait: 30s, allowed_algorithms: [RS256]}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, dep.URL), budgetHooks{})
	c := budgetServe(t, coalesceChecker(st))
	tok := secToken(t, nil, nil)
	done := make(chan []secResult, 1)
	go func() {
		done <- checkAll(t, c, time.Minute, repeat(coalesceChecks, func() *authv3.CheckRequest {
			return secCheck("GET", secHost, "/r", secBearer(tok))
		}))
	}()
	waitUntil(t, "the key set is asked for", func() bool { return dep.calls.Load() > 0 })
	dep.open()
	for i, r := range <-done {
		if r.resp == nil || !r.allowed() {
			t.Fatalf("check %d: %v, want an allow", i, r)
		}
	}
	if n := dep.calls.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches for %d checks, want 1", n, coalesceChecks)
	}
}
