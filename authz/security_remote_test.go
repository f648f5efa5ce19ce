package authz_test

// End-to-end regression tests of issue #8 item 4, "remote answers mean
// what they say", through the real gRPC server: the session store is asked
// at its configured URL whatever path the client requests, a refresh token
// never authenticates a request unless the rule allows it (nor is its
// answer cached), and a remote authorizer gets the client's credentials
// only when the rule asks and never a cut-short body as if it were whole.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// secRecorder is a loopback service that records "METHOD request-uri" of
// every call and answers with respond.
type secRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
	hdr  []http.Header
	body []string
}

func newSecRecorder(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *secRecorder {
	t.Helper()
	s := &secRecorder{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.URL.RequestURI())
		s.hdr = append(s.hdr, r.Header.Clone())
		s.body = append(s.body, string(b))
		s.mu.Unlock()
		respond(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// take returns and clears what was recorded.
func (s *secRecorder) take() (seen []string, hdr []http.Header, body []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, hdr, body = s.seen, s.hdr, s.body
	s.seen, s.hdr, s.body = nil, nil, nil
	return seen, hdr, body
}

// TestSecurityRemoteSessionStoreIsAskedAtItsConfiguredURL: Oathkeeper
// replaced the path of check_session_url with the client's when
// preserve_path was absent, so a client chose which endpoint of the session
// store's host vouched for it (here one that answers with another
// subject). Portcullis keeps the configured path and query unless the rule
// says preserve_path: false.
func TestSecurityRemoteSessionStoreIsAskedAtItsConfiguredURL(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	store := newSecRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/sessions/whoami" && r.URL.RawQuery == "tenant=a" {
			_, _ = io.WriteString(w, `{"subject":"alice"}`)
			return
		}
		// Any other endpoint of the store's host that answers 200.
		_, _ = io.WriteString(w, `{"subject":"admin"}`)
	})
	w := e.world(t, secWorldOpts{rules: fmt.Sprintf(`
- id: R-session
  match: {url: "https://api.test/<.*>", methods: [GET, POST, DELETE]}
  authenticators: [{handler: cookie_session, config: {check_session_url: "%[1]s/sessions/whoami?tenant=a", timeout: 10s}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
- id: R-session-oathkeeper
  match: {url: "https://legacy.test/<.*>", methods: [GET]}
  authenticators: [{handler: cookie_session, config: {check_session_url: "%[1]s/sessions/whoami?tenant=a", timeout: 10s, preserve_path: false}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
`, store.URL)})
	cookie := map[string]string{"cookie": "ory_kratos_session=s1"}
	for _, tt := range []struct{ method, path string }{
		{"GET", "/admin/../whatever"},
		{"GET", "/admin/users?tenant=b"},
		{"DELETE", "/internal/delete"},
		{"POST", "/sessions/whoami/../../admin"},
		{"GET", "/sessions/whoami"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := w.check(t, secCheck(tt.method, secHost, tt.path, cookie))
			secAllow(t, r, "R-session")
			secOverwrites(t, r, "x-user", "alice")
			seen, _, _ := store.take()
			if want := tt.method + " /sessions/whoami?tenant=a"; len(seen) != 1 || seen[0] != want {
				t.Fatalf("session store saw %q, want [%q]", seen, want)
			}
		})
	}
	t.Run("explicit preserve_path false keeps Oathkeeper's replacement", func(t *testing.T) {
		r := w.check(t, secCheck("GET", "legacy.test", "/admin/users", cookie))
		secAllow(t, r, "R-session-oathkeeper")
		secOverwrites(t, r, "x-user", "admin")
		if seen, _, _ := store.take(); len(seen) != 1 || seen[0] != "GET /admin/users?tenant=a" {
			t.Fatalf("session store saw %q", seen)
		}
	})
}

// TestSecurityRemoteRefreshTokenNeverAuthenticates: an introspection
// endpoint that says a token is a refresh token (token_type, which
// Oathkeeper ignored, or token_use) never lets it authenticate a request
// unless the rule lists refresh_token in allowed_token_types; such an
// answer is never cached for a rule that refuses it, and a cached one is
// checked again for each rule.
func TestSecurityRemoteRefreshTokenNeverAuthenticates(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	answers := map[string]map[string]any{
		"refresh-T":     {"active": true, "sub": "alice", "token_type": "refresh_token"},
		"refresh-hydra": {"active": true, "sub": "alice", "token_use": "refresh_token", "token_type": "bearer"},
		"access-T":      {"active": true, "sub": "alice", "token_use": "access_token", "token_type": "Bearer"},
	}
	idp := newSecRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answers[r.PostFormValue("token")])
	})
	calls := func(t *testing.T) int {
		t.Helper()
		seen, _, _ := idp.take()
		return len(seen)
	}
	w := e.world(t, secWorldOpts{rules: fmt.Sprintf(`
- id: R-api
  match: {url: "https://api.test/api/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", timeout: 10s, cache: {enabled: true, ttl: 5m}}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
- id: R-token-exchange
  match: {url: "https://api.test/exchange/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s/introspect", timeout: 10s, cache: {enabled: true, ttl: 5m},
    allowed_token_types: [access_token, refresh_token]}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, idp.URL)})
	steps := []struct {
		name, path, token string
		wantStatus        int
		wantReason        string
		wantCalls         int
	}{
		{"token_type refresh is refused", "/api/orders", "refresh-T", 403, "introspection_token_type_not_allowed", 1},
		{"and its answer was not cached", "/api/orders", "refresh-T", 403, "introspection_token_type_not_allowed", 1},
		{"token_use refresh is refused", "/api/orders", "refresh-hydra", 403, "introspection_token_use_invalid", 1},
		{"an access token authenticates", "/api/orders", "access-T", 200, "", 1},
		{"and is served from the cache", "/api/orders", "access-T", 200, "", 0},
		{"a rule that allows refresh tokens", "/exchange/x", "refresh-T", 200, "", 1},
		{"caches it for itself", "/exchange/x", "refresh-T", 200, "", 0},
		{"but a stricter rule re-checks the cached answer", "/api/orders", "refresh-T", 403, "introspection_token_type_not_allowed", 0},
	}
	for _, st := range steps {
		r := w.check(t, secCheck("GET", secHost, st.path, secBearer(st.token)))
		if st.wantStatus == 200 {
			secAllow(t, r, map[bool]string{true: "R-api", false: "R-token-exchange"}[st.path == "/api/orders"])
		} else {
			secDeny(t, r, st.wantStatus)
			if r.reason() != st.wantReason {
				t.Fatalf("%s: reason %q, want %q", st.name, r.reason(), st.wantReason)
			}
		}
		if n := calls(t); n != st.wantCalls {
			t.Fatalf("%s: %d introspection calls, want %d", st.name, n, st.wantCalls)
		}
	}
}

// TestSecurityRemoteAuthorizerGetsOnlyWhatTheRuleAsks: the remote
// authorizer sends the client's Authorization and cookies only when
// forward_http_headers names them (Oathkeeper always sent Authorization),
// and a body Envoy marked as partial is denied with 413 before any call.
func TestSecurityRemoteAuthorizerGetsOnlyWhatTheRuleAsks(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	remote := newSecRecorder(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	w := e.world(t, secWorldOpts{
		config: func(c map[string]any) {
			c["authorizers"].(map[string]any)["remote"] = map[string]any{"enabled": true}
		},
		rules: fmt.Sprintf(`
- id: R-remote
  match: {url: "https://api.test/orders/<.*>", methods: [POST]}
  authenticators: [{handler: noop}]
  authorizer: {handler: remote, config: {remote: "%[1]s/check", timeout: 10s}}
  mutators: [{handler: noop}]
- id: R-remote-forward
  match: {url: "https://api.test/forward/<.*>", methods: [POST]}
  authenticators: [{handler: noop}]
  authorizer: {handler: remote, config: {remote: "%[1]s/check", timeout: 10s, forward_http_headers: [Authorization]}}
  mutators: [{handler: noop}]
`, remote.URL)})
	send := func(path string, headers map[string]string) secResult {
		req := secCheck("POST", secHost, path, headers)
		req.Attributes.Request.Http.Body = `{"amount":1}`
		return w.check(t, req)
	}
	creds := map[string]string{"authorization": "Bearer opaque-1", "cookie": "sid=1", "content-type": "application/json"}

	r := send("/orders/1", creds)
	secAllow(t, r, "R-remote")
	_, hdr, body := remote.take()
	if len(hdr) != 1 || hdr[0].Get("Authorization") != "" || hdr[0].Get("Cookie") != "" || body[0] != `{"amount":1}` {
		t.Fatalf("remote got %v body %q: want the body and no client credentials", hdr, body)
	}

	r = send("/forward/1", creds)
	secAllow(t, r, "R-remote-forward")
	if _, hdr, _ = remote.take(); len(hdr) != 1 || hdr[0].Get("Authorization") != "Bearer opaque-1" || hdr[0].Get("Cookie") != "" {
		t.Fatalf("remote got %v: want Authorization only", hdr)
	}

	partial := map[string]string{"content-type": "application/json", "x-envoy-auth-partial-body": "true"}
	r = send("/orders/2", partial)
	secDeny(t, r, http.StatusRequestEntityTooLarge)
	if r.reason() != "remote_body_partial" {
		t.Fatalf("reason %q, want remote_body_partial", r.reason())
	}
	if seen, _, _ := remote.take(); len(seen) != 0 {
		t.Fatalf("the remote was asked about a partial body: %q", seen)
	}
}
