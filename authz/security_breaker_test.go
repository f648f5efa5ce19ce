package authz_test

// End-to-end test of issue #9 item 3, circuit breaking, through the real
// gRPC server: once a dependency has failed repeatedly, checks that need
// it are denied at once with a 503 and a reason naming the open circuit,
// without calling it; the circuit is the configured URL's, shared by every
// handler and rule that calls that URL, and not by another URL on the same
// host.

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestSecurityBreakerDeadDependencyFailsFastPerURL(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	// One host: /oauth2/introspect is down (503), /decide is healthy.
	var introspectHits, decideHits atomic.Int32
	dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/oauth2/introspect":
			introspectHits.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/decide":
			decideHits.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"allow":true}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(dep.Close)
	// An open period of a minute (the maximum) outlasts the test however
	// slow the machine: the recovery is the unit tests' business, on a
	// fake clock.
	w := e.world(t, secWorldOpts{
		config: func(c map[string]any) {
			c["authorizers"].(map[string]any)["remote"] = map[string]any{"enabled": true}
		},
		rules: fmt.Sprintf(`
- id: R-token
  match: {url: "https://api.test/orders/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/oauth2/introspect", circuit_breaker: {consecutive_failures: 2, open_for: 1m}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-same-url
  match: {url: "https://api.test/audit/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote, config: {remote: "%[1]s/oauth2/introspect"}}
  mutators: [{handler: noop}]
- id: R-same-host
  match: {url: "https://api.test/reports/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%[1]s/decide", timeout: 10s, payload: '{"subject":"{{ .Subject }}"}', decision_path: allow}}
  mutators: [{handler: noop}]
`, dep.URL)})

	// Checks are sent until the failures have opened the circuit: how many
	// a check sees depends on its budget, not on the test.
	opened := false
	for i := 0; i < 20 && !opened; i++ {
		r := w.check(t, secCheck("GET", "api.test", "/orders/1", secBearer("tok")))
		secDeny(t, r, http.StatusServiceUnavailable, http.StatusInternalServerError)
		opened = r.reason() == "introspection_circuit_open"
	}
	if !opened {
		t.Fatalf("the circuit did not open after 20 checks and %d failed calls", introspectHits.Load())
	}

	before := introspectHits.Load()
	r := w.check(t, secCheck("GET", "api.test", "/orders/2", secBearer("other")))
	secDeny(t, r, http.StatusServiceUnavailable)
	if r.reason() != "introspection_circuit_open" || r.ruleID() != "R-token" {
		t.Fatalf("got %v, want introspection_circuit_open", r)
	}
	// Another handler of another rule calls the same URL: same circuit.
	r = w.check(t, secCheck("GET", "api.test", "/audit/1", nil))
	secDeny(t, r, http.StatusServiceUnavailable)
	if r.reason() != "remote_circuit_open" {
		t.Fatalf("same URL: got %v, want remote_circuit_open", r)
	}
	if got := introspectHits.Load(); got != before {
		t.Fatalf("the dead endpoint was called %d more times with its circuit open", got-before)
	}
	// Another URL on the same host is not affected.
	secAllow(t, w.check(t, secCheck("GET", "api.test", "/reports/1", nil)), "R-same-host")
	if decideHits.Load() != 1 {
		t.Fatalf("the healthy endpoint was called %d times, want 1", decideHits.Load())
	}
}
