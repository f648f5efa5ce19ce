package authz_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestDecisionLogSaysWhy covers issue #10 item 13 through the real gRPC
// server: a method the matching rule does not allow is answered with the
// no-match status but logged as method_not_allowed with the methods the
// rule allows, and a refused credential is logged with the handler that
// refused it; when no authenticator was responsible, with each one's
// reason.
func TestDecisionLogSaysWhy(t *testing.T) {
	env := newSecEnv(t)
	core, logs := observer.New(zap.InfoLevel)
	w := env.world(t, secWorldOpts{log: zap.New(core), rules: secRuleAdm + `
- id: R-either
  match: {url: "https://api.test/either", methods: [GET]}
  authenticators:
    - handler: jwt
    - handler: cookie_session
      config: {check_session_url: "http://127.0.0.1:1/sessions/whoami", only: [ory_kratos_session]}
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`})
	now := time.Now().Unix()
	expired := secToken(t, nil, map[string]any{"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})

	tests := []struct {
		name       string
		method     string
		path       string
		headers    map[string]string
		wantStatus int
		wantLog    map[string]string // decision line fields
		wantError  string            // substring of the line's error field
	}{
		{name: "method the rule does not allow", method: "PUT", path: "/admin/x", wantStatus: http.StatusNotFound,
			wantLog:   map[string]string{"decision": "deny", "reason": "method_not_allowed", "rule_id": ""},
			wantError: `requested url matches rule "R-adm", which allows GET, POST, DELETE, not PUT`},
		{name: "no rule at all", method: "PUT", path: "/nowhere", wantStatus: http.StatusNotFound,
			wantLog: map[string]string{"reason": "no_rule_match"}, wantError: "requested url does not match any rule"},
		{name: "expired token refused by jwt", method: "GET", path: "/admin/x", headers: secBearer(expired), wantStatus: http.StatusUnauthorized,
			wantLog: map[string]string{"reason": "jwt_expired", "handler": "jwt", "rule_id": "R-adm"}},
		{name: "jwt refuses, cookie_session never asked", method: "GET", path: "/either", headers: secBearer(expired), wantStatus: http.StatusUnauthorized,
			wantLog: map[string]string{"reason": "jwt_expired", "handler": "jwt", "rule_id": "R-either"}},
		{name: "nobody responsible", method: "GET", path: "/either", wantStatus: http.StatusUnauthorized,
			wantLog:   map[string]string{"reason": "authentication_handler_no_match", "rule_id": "R-either"},
			wantError: "no authenticator was responsible: jwt (not responsible), cookie_session (not responsible)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := logs.FilterMessage("decision").Len()
			r := w.check(t, secCheck(tt.method, "api.test", tt.path, tt.headers))
			if r.status() != tt.wantStatus {
				t.Fatalf("%v, want status %d", r, tt.wantStatus)
			}
			lines := logs.FilterMessage("decision").All()
			if len(lines) != before+1 {
				t.Fatalf("%d decision lines for one check", len(lines)-before)
			}
			fields := lines[len(lines)-1].ContextMap()
			for k, want := range tt.wantLog {
				got, _ := fields[k].(string)
				if got != want {
					t.Errorf("decision line %s = %q, want %q (line %v)", k, got, want, fields)
				}
			}
			if _, ok := tt.wantLog["handler"]; !ok {
				if h, ok := fields["handler"]; ok {
					t.Errorf("decision line names handler %v, but none refused the request", h)
				}
			}
			if msg, _ := fields["error"].(string); !strings.Contains(msg, tt.wantError) {
				t.Errorf("decision line error %q, want it to contain %q", msg, tt.wantError)
			}
			if msg, _ := fields["error"].(string); strings.Contains(msg, expired) {
				t.Error("the decision line leaks the token")
			}
		})
	}
}
