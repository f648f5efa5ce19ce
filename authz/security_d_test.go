package authz_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// secRemote is the remote authorizer (remote_json): the rule's payload
// names the case, and the server answers with that case's response.
type secRemote struct {
	*httptest.Server
	redirectTo string
	release    chan struct{}
}

func newSecRemote(t *testing.T, redirectTo string) *secRemote {
	t.Helper()
	s := &secRemote{redirectTo: redirectTo, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(s.release) }) // runs before Close
	return s
}

func (s *secRemote) serve(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Case string `json:"case"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	body := func(status int, b string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, b)
	}
	switch in.Case {
	case "allow-true":
		body(200, `{"allow":true}`)
	case "allow-false":
		body(200, `{"allow":false}`)
	case "empty":
		body(200, "")
	case "allow-string":
		body(200, `{"allow":"true"}`)
	case "dup-true-false":
		body(200, `{"allow":true,"allow":false}`)
	case "dup-false-true":
		body(200, `{"allow":false,"allow":true}`)
	case "allow-array":
		body(200, `{"allow":[true]}`)
	case "allow-null":
		body(200, `{"allow":null}`)
	case "status-201":
		body(201, `{"allow":true}`)
	case "status-204":
		w.WriteHeader(204)
	case "status-302":
		w.Header().Set("Location", s.redirectTo)
		w.WriteHeader(302)
	case "status-429":
		w.Header().Set("Retry-After", "1")
		body(429, `{"allow":true}`)
	case "status-500":
		body(500, `{"allow":true}`)
	case "body-5mib":
		body(200, `{"allow":true,"pad":"`+strings.Repeat("x", 5<<20)+`"}`)
	case "slow-body":
		// D-13: headers at once, then one byte per 100ms until the
		// client gives up.
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"allow":`)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-s.release:
				return
			case <-time.After(100 * time.Millisecond):
				if _, err := io.WriteString(w, " "); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	case "close-mid-body":
		// E-03: the connection drops in the middle of the body.
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"al")
		_ = buf.Flush()
		_ = conn.Close()
	default:
		body(404, `{}`)
	}
}

// secRemoteRules are remote_json routes whose capture group names the
// remote's case: /d05/<case> decides with decision_path "allow",
// /d05s/<case> by status alone, /d13/<case> with a 300ms timeout. The
// first two allow 10s, so that no answer depends on how busy the machine
// is; the default (150ms) is the budget tests' subject.
func secRemoteRules(remoteURL string) string {
	return fmt.Sprintf(`
- id: R-remote-decision
  match: {url: "https://api.test/d05/<[a-z0-9-]+>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%[1]s/decide", timeout: 10s, decision_path: allow, payload: '{"case": {{ jsonQuote (printIndex .MatchContext.RegexpCaptureGroups 0) }}}'}}
  mutators: [{handler: noop}]
- id: R-remote-status
  match: {url: "https://api.test/d05s/<[a-z0-9-]+>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%[1]s/decide", timeout: 10s, payload: '{"case": {{ jsonQuote (printIndex .MatchContext.RegexpCaptureGroups 0) }}}'}}
  mutators: [{handler: noop}]
- id: R-remote-timeout
  match: {url: "https://api.test/d13/<[a-z0-9-]+>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%[1]s/decide", timeout: 300ms, decision_path: allow, payload: '{"case": {{ jsonQuote (printIndex .MatchContext.RegexpCaptureGroups 0) }}}'}}
  mutators: [{handler: noop}]
`, remoteURL)
}

// secIntrospection is an RFC 7662 endpoint with fixed answers per token;
// "tok-revoked" turns inactive when revoked is set, tokens starting with
// "live-" are active and those starting with "dead401-" get a 401.
type secIntrospection struct {
	*httptest.Server
	expShort atomic.Int64 // exp of "tok-short"
	revoked  atomic.Bool
	mu       sync.Mutex
	calls    map[string]int
}

func newSecIntrospection(t *testing.T) *secIntrospection {
	t.Helper()
	s := &secIntrospection{calls: map[string]int{}}
	s.expShort.Store(time.Now().Unix() + 300)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.PostFormValue("token")
		s.mu.Lock()
		s.calls[tok]++
		s.mu.Unlock()
		now := time.Now().Unix()
		var ans map[string]any
		switch {
		case strings.HasPrefix(tok, "live-"):
			ans = map[string]any{"active": true, "sub": "alice", "scope": "read", "exp": now + 300}
		case strings.HasPrefix(tok, "dead401-"):
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch tok {
		case "tok-read":
			ans = map[string]any{"active": true, "sub": "alice", "scope": "read", "exp": now + 300}
		case "tok-short":
			ans = map[string]any{"active": true, "sub": "alice", "exp": s.expShort.Load()}
		case "tok-revoked":
			ans = map[string]any{"active": !s.revoked.Load(), "sub": "alice", "exp": now + 300}
		case "tok-array":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `[]`)
			return
		default:
			if ans == nil {
				ans = map[string]any{"active": false}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ans)
	}))
	t.Cleanup(s.Close)
	return s
}

// secIntrospectionRules: /d07/read and /d07/write need scope read and
// write (exact); /d09/... caches for 300s, /d09r/... for 1s. Calls may
// take 10s (see secRemoteRules).
func secIntrospectionRules(url string) string {
	return fmt.Sprintf(`
- id: R-intro-read
  match: {url: "https://api.test/d07/read/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s", timeout: 10s, scope_strategy: exact, required_scope: [read], cache: {enabled: true, ttl: 300s}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-intro-write
  match: {url: "https://api.test/d07/write/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s", timeout: 10s, scope_strategy: exact, required_scope: [write], cache: {enabled: true, ttl: 300s}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-intro-exp
  match: {url: "https://api.test/d09/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s", timeout: 10s, cache: {enabled: true, ttl: 300s}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-intro-revoke
  match: {url: "https://api.test/d09r/<.*>", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[1]s", timeout: 10s, cache: {enabled: true, ttl: 1s}}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, url)
}

// secSessionStore answers cookie_session calls by request path.
func newSecSessionStore(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/d17a/dup":
			_, _ = io.WriteString(w, `{"identity":{"id":"alice"},"identity":{"id":"admin"}}`)
		case "/d17a/ok":
			_, _ = io.WriteString(w, `{"identity":{"id":"alice"}}`)
		case "/d17b/array":
			_, _ = io.WriteString(w, `{"subject":["admin"]}`)
		case "/d17b/null":
			_, _ = io.WriteString(w, `{"subject":null}`)
		case "/d17b/ok", "/e03/ok":
			_, _ = io.WriteString(w, `{"subject":"alice"}`)
		case "/e03/null":
			_, _ = io.WriteString(w, `null`)
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// secSessionRules are cookie_session routes on the session store at url,
// whose calls may take 10s (see secRemoteRules).
func secSessionRules(url string) string {
	return fmt.Sprintf(`
- id: R-session-identity
  match: {url: "https://api.test/d17a/<.*>", methods: [GET]}
  authenticators: [{handler: cookie_session, config: {check_session_url: "%[1]s", timeout: 10s, preserve_path: false, subject_from: identity.id}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
- id: R-session-subject
  match: {url: "https://api.test/d17b/<.*>", methods: [GET]}
  authenticators: [{handler: cookie_session, config: {check_session_url: "%[1]s", timeout: 10s, preserve_path: false}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
`, url)
}

// TestSecurityD covers category D (remote calls) of SECURITY_CASES.md
// where it is reachable end to end.
func TestSecurityD(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	meta := newSecListener(t, "127.0.0.66") // stands in for a cloud metadata address
	remote := newSecRemote(t, e.attacker.URL+"/")
	intro := newSecIntrospection(t)
	sessions := newSecSessionStore(t)
	var redirectsMu sync.Mutex
	redirects := map[string]int{} // by path
	redirected := func(path string) int {
		redirectsMu.Lock()
		defer redirectsMu.Unlock()
		return redirects[path]
	}
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirectsMu.Lock()
		redirects[r.URL.Path]++
		redirectsMu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/meta") {
			w.Header().Set("Location", meta.URL+"/latest/meta-data/")
		} else {
			w.Header().Set("Location", e.attacker.URL+"/")
		}
		w.WriteHeader(http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	var d03 strings.Builder
	for _, target := range []string{"meta", "attacker"} {
		base := redirector.URL + "/" + target
		fmt.Fprintf(&d03, `
- id: R-d03-intro-%[1]s
  match: {url: "https://api.test/d03/intro/%[1]s", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%[2]s/introspect", timeout: 10s}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-d03-session-%[1]s
  match: {url: "https://api.test/d03/session/%[1]s", methods: [GET]}
  authenticators: [{handler: cookie_session, config: {check_session_url: "%[2]s/sessions/whoami", timeout: 10s, preserve_path: true}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-d03-remote-%[1]s
  match: {url: "https://api.test/d03/remote/%[1]s", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%[2]s/decide", timeout: 10s, payload: '{}'}}
  mutators: [{handler: noop}]
- id: R-d03-jwks-%[1]s
  match: {url: "https://api.test/d03/jwks/%[1]s", methods: [GET]}
  authenticators: [{handler: jwt, config: {jwks_urls: ["%[2]s/jwks.json"], jwks_max_wait: 200ms}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, target, base)
	}
	w := e.world(t, secWorldOpts{rules: secRulesBase + secRemoteRules(remote.URL) + secIntrospectionRules(intro.URL) +
		secSessionRules(sessions.URL) + d03.String()})

	t.Run("D-03 remote endpoints that redirect", func(t *testing.T) {
		for _, kind := range []string{"intro", "session", "remote", "jwks"} {
			for _, target := range []string{"meta", "attacker"} {
				t.Run(kind+" to "+target, func(t *testing.T) {
					var h map[string]string
					switch kind {
					case "intro":
						h = secBearer("opaque-token-d03")
					case "session":
						h = map[string]string{"cookie": "session=d03"}
					case "jwks":
						h = secBearer(secToken(t, nil, nil))
					}
					endpoint := map[string]string{"intro": "/introspect", "session": "/sessions/whoami", "remote": "/decide", "jwks": "/jwks.json"}[kind]
					endpoint = "/" + target + endpoint
					before := redirected(endpoint)
					r := w.check(t, secCheck("GET", secHost, "/d03/"+kind+"/"+target, h))
					t.Logf("%v", r)
					secDeny(t, r)
					// The JWKS is fetched in the background from compile
					// time on; the others are called by this request.
					called := func() bool { return redirected(endpoint) > before }
					if kind == "jwks" {
						called = func() bool { return redirected(endpoint) > 0 }
						secEventually(t, "the background fetch of "+endpoint, called)
					}
					if !called() {
						t.Fatalf("the %s endpoint %s was never called", kind, endpoint)
					}
				})
			}
		}
		if n := meta.conns.Load(); n != 0 {
			t.Errorf("the metadata stand-in received %d connections, want 0", n)
		}
		if n := e.attacker.conns.Load(); n != 0 {
			t.Errorf("attacker.test received %d connections, want 0", n)
		}
	})

	t.Run("D-05 remote decision response parsing", func(t *testing.T) {
		for _, c := range []struct {
			name string
			// wantDecision and wantStatus: 200 ALLOW, else the DENY status
			// (0 any deny), for decision_path and status-based rules.
			wantDecision, wantStatus int
		}{
			{"allow-true", 200, 200},
			{"allow-false", 403, 200},
			{"empty", 0, 200},
			{"allow-string", 403, 200},
			{"dup-true-false", 0, 200},
			{"status-201", 0, 0},
			{"status-204", 0, 0},
			{"status-302", 0, 0},
			{"status-429", 429, 429},
			{"status-500", 0, 0},
			{"body-5mib", 0, 0},
		} {
			for _, v := range []struct {
				prefix, rule string
				want         int
			}{{"/d05/", "R-remote-decision", c.wantDecision}, {"/d05s/", "R-remote-status", c.wantStatus}} {
				t.Run(v.rule+" "+c.name, func(t *testing.T) {
					r := w.check(t, secCheck("GET", secHost, v.prefix+c.name, nil))
					switch v.want {
					case 200:
						secAllow(t, r, v.rule)
					case 0:
						secDeny(t, r)
					default:
						secDeny(t, r, v.want)
					}
				})
			}
		}
		if n := e.attacker.conns.Load(); n != 0 {
			t.Errorf("the 302's target received %d connections, want 0", n)
		}
	})

	t.Run("D-07 introspection cache reused by a stricter rule", func(t *testing.T) {
		h := secBearer("tok-read")
		secAllow(t, w.check(t, secCheck("GET", secHost, "/d07/read/x", h)), "R-intro-read")
		r := w.check(t, secCheck("GET", secHost, "/d07/write/x", h))
		secDeny(t, r, 403)
		intro.mu.Lock()
		calls := intro.calls["tok-read"]
		intro.mu.Unlock()
		t.Logf("introspection calls for the token: %d", calls)
	})

	t.Run("D-09 cache entry outliving the token", func(t *testing.T) {
		// At least 3 s before exp for the two allowed checks, which on a
		// loaded machine under -race can take more than the 1 s that
		// now+2 left at worst.
		exp := time.Now().Unix() + 4
		intro.expShort.Store(exp)
		secAllow(t, w.check(t, secCheck("GET", secHost, "/d09/x", secBearer("tok-short"))), "R-intro-exp")
		secAllow(t, w.check(t, secCheck("GET", secHost, "/d09r/x", secBearer("tok-revoked"))), "R-intro-revoke")
		intro.revoked.Store(true)
		// exp is at most 4s away; the revocation variant's cache ttl is 1s.
		time.Sleep(time.Until(time.Unix(exp, 0).Add(300 * time.Millisecond)))
		secDeny(t, w.check(t, secCheck("GET", secHost, "/d09/x", secBearer("tok-short"))), 401)
		secDeny(t, w.check(t, secCheck("GET", secHost, "/d09r/x", secBearer("tok-revoked"))), 401)
	})

	t.Run("D-13 slow-loris response body", func(t *testing.T) {
		// The body never ends (a byte per 100ms until the client goes), so
		// only the rule's 300ms timeout can end the call, long before the
		// check's own budget: the denial names the remote.
		r := w.check(t, secCheck("GET", secHost, "/d13/slow-body", nil))
		secDeny(t, r, 503)
		if r.reason() != "remote_json_unavailable" {
			t.Fatalf("got %v, want reason remote_json_unavailable (the call's timeout, not the check's)", r)
		}
	})

	t.Run("D-17 duplicate keys and type confusion in remote JSON", func(t *testing.T) {
		for _, c := range []struct {
			name, path, rule string
			// nullSubject: a null subject may also be accepted as the
			// empty subject, if the mutator sees the same.
			nullSubject bool
		}{
			{name: "remote_json duplicate allow true then false", path: "/d05/dup-true-false"},
			{name: "remote_json duplicate allow false then true", path: "/d05/dup-false-true"},
			{name: "remote_json allow as an array", path: "/d05/allow-array"},
			{name: "remote_json allow null", path: "/d05/allow-null"},
			{name: "cookie_session duplicate identity", path: "/d17a/dup"},
			{name: "cookie_session subject as an array", path: "/d17b/array"},
			{name: "cookie_session subject null", path: "/d17b/null", nullSubject: true},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := w.check(t, secCheck("GET", secHost, c.path, map[string]string{"cookie": "session=d17"}))
				t.Logf("%v", r)
				if c.nullSubject && r.allowed() {
					subject := r.resp.GetDynamicMetadata().GetFields()["subject"].GetStringValue()
					up := secUpstream(r)["x-user"]
					if subject != "" || len(up) != 1 || up[0].GetHeader().GetValue() != "" {
						t.Fatalf("null subject allowed as %q with upstream x-user %v", subject, up)
					}
					return
				}
				secDeny(t, r)
			})
		}
		for _, p := range []string{"/d17a/ok", "/d17b/ok"} {
			r := w.check(t, secCheck("GET", secHost, p, map[string]string{"cookie": "session=d17"}))
			if !r.allowed() {
				t.Fatalf("control %s: %v", p, r)
			}
			secOverwrites(t, r, "x-user", "alice")
		}
	})
}
