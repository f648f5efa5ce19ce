package authz_test

import (
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestRouteRuleMismatch drives issue #13 item 5 through the real gRPC
// server: a route whose context_extensions.rule_id names a rule the
// request does not match (by URL or by method) is denied with
// route_rule_mismatch, logged with the route's rule and what the URL
// matches, and is never judged by the named rule (R-open's anonymous
// chain would allow the request to /users/7 it names).
func TestRouteRuleMismatch(t *testing.T) {
	env := newSecEnv(t)
	core, logs := observer.New(zap.InfoLevel)
	w := env.world(t, secWorldOpts{log: zap.New(core), rules: secRuleUsr + `
- id: R-open
  match: {url: "https://api.test/open/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`})
	routed := func(method, path, rule string) *authv3.CheckRequest {
		req := secCheck(method, "api.test", path, nil)
		req.Attributes.ContextExtensions = map[string]string{"rule_id": rule}
		return req
	}
	tests := []struct {
		name       string
		req        *authv3.CheckRequest
		wantStatus int
		wantReason string
		wantError  string
	}{
		{name: "route and rule agree", req: routed("GET", "/open/x", "R-open"), wantStatus: http.StatusOK, wantReason: "allowed"},
		{name: "URL outside the named rule", req: routed("GET", "/users/7", "R-open"), wantStatus: http.StatusNotFound, wantReason: "route_rule_mismatch",
			wantError: `the route names rule "R-open" (GET https://api.test/open/<.*>), but the request GET https://api.test/users/7 does not match its url; by url it matches rule "R-usr"`},
		{name: "method outside the named rule", req: routed("DELETE", "/open/x", "R-open"), wantStatus: http.StatusNotFound, wantReason: "route_rule_mismatch",
			wantError: `has a method the rule does not allow`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := logs.FilterMessage("decision").Len()
			r := w.check(t, tt.req)
			if r.status() != tt.wantStatus {
				t.Fatalf("%v, want status %d", r, tt.wantStatus)
			}
			lines := logs.FilterMessage("decision").All()
			if len(lines) != before+1 {
				t.Fatalf("%d decision lines for one check", len(lines)-before)
			}
			fields := lines[len(lines)-1].ContextMap()
			if got, _ := fields["reason"].(string); got != tt.wantReason {
				t.Errorf("decision reason %q, want %q (line %v)", got, tt.wantReason, fields)
			}
			if msg, _ := fields["error"].(string); !strings.Contains(msg, tt.wantError) {
				t.Errorf("decision line error %q, want it to contain %q", msg, tt.wantError)
			}
		})
	}
}
