package authz_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
)

// Issue 8 items 1 and 2 at both front doors: the request that is judged
// is the request the upstream serves. Hosts are matched in canonical form
// (as Envoy routes them), copies of the host must agree, and the path
// policy refuses double encoding, fragments, oversized paths and paths
// that differ from a stricter rule's literal prefix only in case.

// The identity rules: api.test needs a token everywhere, admin.test (a
// rule written in upper case) too, and every other host is public.
// R-rest is the usual "everything else" rule of api.test's paths.
const secIdentityRules = `
- id: R-api
  match: {url: "https://api.test/admin/<.*>", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-pub
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-rest
  match: {url: "https://api.test/<(?!admin/|public/).*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-adm-host
  match: {url: "https://ADMIN.test/<.*>", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-others
  match: {url: "https://<(?!api\\.test|admin\\.test)[^/]+>/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`

// secIdentityCase is one request and the one outcome it must have.
type secIdentityCase struct {
	name, host, path string
	headers          map[string]string
	// want is the DENY status; 0 means an allow by allowBy.
	want    int
	reason  string
	allowBy string
}

func (c secIdentityCase) run(t *testing.T, w *secWorld) {
	t.Helper()
	t.Run(c.name, func(t *testing.T) {
		host := c.host
		if host == "" {
			host = secHost
		}
		r := w.check(t, secCheck("GET", host, c.path, c.headers))
		if c.want == 0 {
			secAllow(t, r, c.allowBy)
			return
		}
		secDeny(t, r, c.want)
		if c.reason != "" && r.reason() != c.reason {
			t.Fatalf("got %v, want reason %q", r, c.reason)
		}
	})
}

func TestSecurityIdentityHost(t *testing.T) {
	t.Parallel()
	w := newSecEnv(t).world(t, secWorldOpts{rules: secIdentityRules})

	t.Run("control", func(t *testing.T) {
		for _, c := range []secIdentityCase{
			{name: "api.test needs a token", path: "/admin/x", want: 401},
			{name: "other hosts are public", host: "www.test", path: "/x", allowBy: "R-others"},
		} {
			c.run(t, w)
		}
	})

	t.Run("a host in any spelling meets its own rule, as Envoy routes it", func(t *testing.T) {
		for _, host := range []string{"API.TEST", "Api.Test", "api.test.", "API.test.:443", "api.test:443"} {
			secIdentityCase{name: host, host: host, path: "/admin/x", want: 401}.run(t, w)
		}
	})

	t.Run("a rule written in upper case applies to its host", func(t *testing.T) {
		for _, host := range []string{"admin.test", "ADMIN.test", "admin.test.:443"} {
			secIdentityCase{name: host, host: host, path: "/x", want: 401}.run(t, w)
		}
	})

	t.Run("a host without a canonical form is a 400", func(t *testing.T) {
		for _, host := range []string{"api%2Etest", "%61pi.test", "evil@api.test", "api.test:0", "api.test:", "b\u00fccher.test", "127.1", "api.test..", "api .test"} {
			secIdentityCase{name: host, host: host, path: "/public/x", want: 400, reason: "malformed_request"}.run(t, w)
		}
	})

	t.Run("a host header that disagrees with the authority is a 400", func(t *testing.T) {
		for _, c := range []secIdentityCase{
			{name: "other host", path: "/public/x", headers: map[string]string{"host": "www.test"}, want: 400, reason: "malformed_request"},
			{name: "other port", path: "/public/x", headers: map[string]string{"host": "api.test:8443"}, want: 400, reason: "malformed_request"},
			{name: "same host, other spelling", path: "/public/x", headers: map[string]string{"host": "API.test:443"}, allowBy: "R-pub"},
		} {
			c.run(t, w)
		}
		// :authority beside http.host, as a non-Envoy sender may write it.
		req := secCheck("GET", "www.test", "/x", map[string]string{":authority": "api.test"})
		r := w.check(t, req)
		secDeny(t, r, 400)
	})
}

func TestSecurityIdentityPath(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	w := e.world(t, secWorldOpts{rules: secIdentityRules})

	t.Run("double encoding is a 400", func(t *testing.T) {
		for _, p := range []string{
			"/public/%252e%252e/admin/x", "/public/%252E%252E/admin/x", "/public/..%252fadmin/x", "/public/..%252Fadmin/x",
			"/public/..%255cadmin/x", "/public/..%255Cadmin/x", "/public/%25%32%65%25%32%65/admin/x", "/public/%2541",
		} {
			secIdentityCase{name: p, path: p, want: 400, reason: "malformed_request"}.run(t, w)
		}
	})

	t.Run("a fragment is a 400, not cut off", func(t *testing.T) {
		for _, p := range []string{"/public/x#/../../admin/x", "/public/x#", "/public/x?q=1#/admin"} {
			secIdentityCase{name: p, path: p, want: 400, reason: "malformed_request"}.run(t, w)
		}
	})

	t.Run("paths beyond the default limits are a 400", func(t *testing.T) {
		long := "/public/" + strings.Repeat("a", 4096)
		deep := "/public" + strings.Repeat("/a", 128)
		for _, c := range []secIdentityCase{
			{name: "4096 bytes", path: long[:4096], allowBy: "R-pub"},
			{name: "4104 bytes", path: long, want: 400, reason: "malformed_request"},
			{name: "128 segments", path: deep[:len(deep)-2], allowBy: "R-pub"},
			{name: "129 segments", path: deep, want: 400, reason: "malformed_request"},
		} {
			c.run(t, w)
		}
	})

	t.Run("configured limits", func(t *testing.T) {
		small := e.world(t, secWorldOpts{rules: secIdentityRules, config: func(c map[string]any) {
			c["access_rules"] = map[string]any{"max_path_length": 32, "max_path_segments": 4}
		}})
		for _, c := range []secIdentityCase{
			{name: "within", path: "/public/a/b", allowBy: "R-pub"},
			{name: "too long", path: "/public/" + strings.Repeat("a", 25), want: 400},
			{name: "too deep", path: "/public/a/b/c/d", want: 400},
		} {
			c.run(t, small)
		}
	})

	t.Run("a path differing from a stricter rule only in case is a 400", func(t *testing.T) {
		for _, p := range []string{"/ADMIN/x", "/Admin/x", "/aDMIN/x/", "/ADMIN/", "/adm%49n/x"} {
			secIdentityCase{name: p, path: p, want: 400, reason: "ambiguous_path_case"}.run(t, w)
		}
		secIdentityCase{name: "exact case", path: "/admin/x", want: 401}.run(t, w)
		secIdentityCase{name: "no stricter rule", path: "/ADMINS/x", allowBy: "R-rest"}.run(t, w)
		// Against a plain catch-all, which Oathkeeper reports as ambiguous
		// for /admin/x but let /ADMIN/x through.
		any := e.world(t, secWorldOpts{rules: secRulesBase + secRuleAny})
		secIdentityCase{name: "catch-all", path: "/ADMIN/secrets", want: 400, reason: "ambiguous_path_case"}.run(t, any)
	})

	t.Run("case_sensitive_upstreams turns the guard off", func(t *testing.T) {
		cs := e.world(t, secWorldOpts{rules: secIdentityRules, config: func(c map[string]any) {
			c["access_rules"] = map[string]any{"case_sensitive_upstreams": true}
		}})
		secIdentityCase{name: "/ADMIN/x", path: "/ADMIN/x", allowBy: "R-rest"}.run(t, cs)
		secIdentityCase{name: "/admin/x", path: "/admin/x", want: 401}.run(t, cs)
	})
}

// TestSecurityIdentityDecisionAPI runs the same policy at the HTTP
// decision API, which reaches it through the same Execute.
func TestSecurityIdentityDecisionAPI(t *testing.T) {
	t.Parallel()
	w := newSecEnv(t).world(t, secWorldOpts{rules: secIdentityRules})
	st := &secStore{}
	st.p.Store(w.snap)
	c := authz.NewChecker(st, zap.NewNop(), nil, testBudget)
	srv := httptest.NewServer(authz.NewAPIHandler(st, nil, authz.APIOptions{Decisions: c.Decisions(authz.DecisionsOptions{})}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		host, uri  string
		wantStatus int
	}{
		{name: "control", host: "api.test", uri: "/public/x", wantStatus: 200},
		{name: "mixed-case host meets its rule", host: "API.Test.", uri: "/admin/x", wantStatus: 401},
		{name: "upper-case rule host", host: "admin.test", uri: "/x", wantStatus: 401},
		{name: "malformed host", host: "evil@api.test", uri: "/public/x", wantStatus: 400},
		{name: "double encoding", host: "api.test", uri: "/public/%252e%252e/admin/x", wantStatus: 400},
		{name: "fragment", host: "api.test", uri: "/public/x#/../../admin/x", wantStatus: 400},
		{name: "long path", host: "api.test", uri: "/public/" + strings.Repeat("a", 4096), wantStatus: 400},
		{name: "path case", host: "api.test", uri: "/ADMIN/x", wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL+"/decisions", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", tt.host)
			req.Header.Set("X-Forwarded-Uri", tt.uri)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
		})
	}
}
