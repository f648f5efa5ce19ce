package pipeline_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestMethodNotAllowed covers issue #10 item 13: a request whose URL
// matches a rule but whose method does not is told apart from one that
// matches nothing, by reason and error text, while the client still gets
// the configured no-match status from the global error handlers.
func TestMethodNotAllowed(t *testing.T) {
	withMethods := func(id, url string, methods ...string) pipeline.RuleSpec {
		r := rule(id, url, []pipeline.HandlerSpec{h("a", "")})
		r.Match.Methods = methods
		return r
	}
	many := make([]pipeline.RuleSpec, 6)
	for i := range many {
		many[i] = withMethods(fmt.Sprintf("r%d", i), fmt.Sprintf("https://api.test/<x{0,%d}>", i+1), "GET")
	}
	tests := []struct {
		name       string
		rules      []pipeline.RuleSpec
		noMatch    int
		method     string
		path       string
		routeRule  string // Envoy context_extensions rule_id
		wantStatus int
		wantReason string
		wantErr    string
	}{
		{name: "method allowed", rules: []pipeline.RuleSpec{withMethods("orders", "https://api.test/orders", "GET")},
			method: "GET", path: "/orders", wantStatus: http.StatusOK, wantReason: pipeline.ReasonAllowed},
		{name: "one rule", rules: []pipeline.RuleSpec{withMethods("orders", "https://api.test/orders", "get", "Post")},
			method: "DELETE", path: "/orders", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonMethodNotAllowed,
			wantErr: `not found (method_not_allowed): requested url matches rule "orders", which allows GET, POST, not DELETE`},
		{name: "configured no-match status", rules: []pipeline.RuleSpec{withMethods("orders", "https://api.test/orders", "GET")}, noMatch: 403,
			method: "PUT", path: "/orders", wantStatus: http.StatusForbidden, wantReason: pipeline.ReasonMethodNotAllowed,
			wantErr: `rule "orders", which allows GET, not PUT`},
		{name: "one URL, two rules", rules: []pipeline.RuleSpec{
			withMethods("read", "https://api.test/orders/<[0-9]+>", "GET"),
			withMethods("write", "https://api.test/orders/<[0-9]+>", "PUT", "PATCH"),
		}, method: "DELETE", path: "/orders/7", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonMethodNotAllowed,
			wantErr: `requested url matches rules "read" (GET), "write" (PUT, PATCH), none of which allows DELETE`},
		{name: "bounded list", rules: many, method: "POST", path: "/x", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonMethodNotAllowed,
			wantErr: `requested url matches rules "r0" (GET), "r1" (GET), "r2" (GET), "r3" (GET) and 2 more, none of which allows POST`},
		{name: "no URL matches", rules: []pipeline.RuleSpec{withMethods("orders", "https://api.test/orders", "GET")},
			method: "DELETE", path: "/other", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonNoRule,
			wantErr: "not found (no_rule_match): requested url does not match any rule"},
		{name: "rule without methods never matches", rules: []pipeline.RuleSpec{withMethods("orders", "https://api.test/orders")},
			method: "GET", path: "/orders", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonNoRule},
		{name: "route names the rule", rules: []pipeline.RuleSpec{withMethods("orders", "https://api.test/orders", "GET")},
			method: "POST", path: "/anything", routeRule: "orders", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonRouteRuleMismatch,
			wantErr: `the route names rule "orders" (GET https://api.test/orders)`},
		{name: "route names an unknown rule", rules: []pipeline.RuleSpec{withMethods("orders", "https://api.test/orders", "GET")},
			method: "GET", path: "/orders", routeRule: "nope", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonNoRule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range tt.rules {
				tt.rules[i].Index = i
			}
			cfg := config()
			cfg.NoMatchStatus = tt.noMatch
			s, err := pipeline.Compile(tt.rules, cfg, registry())
			if err != nil {
				t.Fatal(err)
			}
			r := get(tt.path)
			r.Method = tt.method
			if tt.routeRule != "" {
				r.Context = map[string]string{pipeline.ContextRuleID: tt.routeRule}
			}
			d, _ := run(t, s, r)
			status := d.Denial.Status
			if d.Allowed {
				status = http.StatusOK
			}
			if status != tt.wantStatus || d.Reason != tt.wantReason {
				t.Fatalf("status %d reason %q, want %d %q (err %v)", status, d.Reason, tt.wantStatus, tt.wantReason, d.Err)
			}
			if !d.Allowed && (d.RuleID != "" || d.Denial.Header.Get("x-handler") != "global") {
				t.Errorf("rule %q error handler %q: a request that selected no rule is answered by the global handlers", d.RuleID, d.Denial.Header.Get("x-handler"))
			}
			if tt.wantErr != "" && (d.Err == nil || !strings.Contains(d.Err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want it to contain %q", d.Err, tt.wantErr)
			}
		})
	}
}

// named authenticators with scripted outcomes: "" succeeds, "skip" is not
// responsible, "skip:<reason>" is not responsible with a reason (like
// mtls_required), "refuse:<reason>" refuses the credential with a 401.
func namedAuthenticators(reg *pipeline.Registry, names ...string) {
	for _, name := range names {
		pipeline.RegisterAuthenticator(reg, name, func(c fakeConfig) (pipeline.Authenticator, error) {
			return pipeline.AuthenticatorFunc(func(context.Context, *pipeline.Request, *pipeline.Session) error {
				kind, reason, _ := strings.Cut(c.Outcome, ":")
				switch kind {
				case "skip":
					if reason == "" {
						return pipeline.ErrSkip
					}
					return pipeline.Unauthorized(reason, "", pipeline.ErrSkip)
				case "refuse":
					return pipeline.Unauthorized(reason, "", nil)
				}
				return nil
			}), nil
		})
	}
}

// TestDecisionNamesTheRefusingAuthenticator covers issue #10 item 13: the
// decision names the authenticator that refused a credential, with its
// reason; when none was responsible, its error names each one's reason,
// a bounded list.
func TestDecisionNamesTheRefusingAuthenticator(t *testing.T) {
	names := []string{"jwt", "cookie_session", "mtls", "a4", "a5", "a6"}
	reg := registry()
	namedAuthenticators(reg, names...)
	cfg := config()
	for _, n := range names {
		cfg.Authenticators[n] = pipeline.HandlerConfig{Enabled: true}
	}
	a := func(name, outcome string) pipeline.HandlerSpec {
		return pipeline.HandlerSpec{Handler: name, Config: map[string]any{"outcome": outcome}}
	}
	tests := []struct {
		name        string
		chain       []pipeline.HandlerSpec
		wantHandler string
		wantReason  string
		wantErr     string
	}{
		{name: "responsible and refused", chain: []pipeline.HandlerSpec{a("jwt", "refuse:jwt_expired")},
			wantHandler: "jwt", wantReason: "jwt_expired"},
		{name: "refused after a skip", chain: []pipeline.HandlerSpec{a("cookie_session", "skip"), a("jwt", "refuse:jwt_expired")},
			wantHandler: "jwt", wantReason: "jwt_expired"},
		{name: "refused, fell through, nobody else responsible",
			chain:       []pipeline.HandlerSpec{{Handler: "jwt", Fallthrough: true, Config: map[string]any{"outcome": "refuse:jwt_expired"}}, a("cookie_session", "skip")},
			wantHandler: "jwt", wantReason: "jwt_expired"},
		{name: "none responsible", chain: []pipeline.HandlerSpec{a("jwt", "skip"), a("cookie_session", "skip"), a("mtls", "skip:mtls_required")},
			wantReason: "mtls_required",
			wantErr:    "no authenticator was responsible: jwt (not responsible), cookie_session (not responsible), mtls (mtls_required)"},
		{name: "none responsible, no reason given", chain: []pipeline.HandlerSpec{a("jwt", "skip")},
			wantReason: pipeline.ReasonNoAuthenticator, wantErr: "no authenticator was responsible: jwt (not responsible)"},
		{name: "none responsible, bounded", chain: []pipeline.HandlerSpec{a("jwt", "skip"), a("cookie_session", "skip"), a("mtls", "skip"), a("a4", "skip"), a("a5", "skip"), a("a6", "skip:late")},
			wantReason: "late", wantErr: "jwt (not responsible), cookie_session (not responsible), mtls (not responsible), a4 (not responsible) and 2 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := pipeline.Compile([]pipeline.RuleSpec{rule("r", "https://api.test/x", tt.chain)}, cfg, reg)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := run(t, s, get("/x"))
			if d.Allowed || d.Denial.Status != http.StatusUnauthorized || d.RuleID != "r" {
				t.Fatalf("allowed %v status %d rule %q", d.Allowed, d.Denial.Status, d.RuleID)
			}
			if d.Handler != tt.wantHandler || d.Reason != tt.wantReason {
				t.Errorf("handler %q reason %q, want %q %q", d.Handler, d.Reason, tt.wantHandler, tt.wantReason)
			}
			if tt.wantErr != "" && (d.Err == nil || !strings.Contains(d.Err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want it to contain %q", d.Err, tt.wantErr)
			}
		})
	}
}
