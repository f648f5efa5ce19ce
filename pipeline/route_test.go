package pipeline_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// A route that names a rule the request does not match is a
// configuration error: the request is denied with route_rule_mismatch,
// the log line names the route's rule and what the URL matches, and the
// named rule's handlers never run.
func TestRouteRuleMismatch(t *testing.T) {
	read := rule("orders-read", "https://api.test/orders/<[0-9]+>", []pipeline.HandlerSpec{h("read", "")})
	other := rule("other", "https://api.test/other", []pipeline.HandlerSpec{h("other", "")})
	s := mustCompile(t, read, other)
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantReason         string
		wantErr            string
	}{
		{name: "agree", method: "GET", path: "/orders/7", wantStatus: http.StatusOK, wantReason: pipeline.ReasonAllowed},
		{name: "URL of another rule", method: "GET", path: "/other", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonRouteRuleMismatch,
			wantErr: `the route names rule "orders-read" (GET https://api.test/orders/<[0-9]+>), but the request GET https://api.test/other does not match its url; by url it matches rule "other"`},
		{name: "URL of no rule", method: "GET", path: "/orders/x", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonRouteRuleMismatch,
			wantErr: `does not match its url; by url it matches no rule`},
		{name: "method the rule does not allow", method: "DELETE", path: "/orders/7", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonRouteRuleMismatch,
			wantErr: `the request DELETE https://api.test/orders/7 has a method the rule does not allow; by url it matches no rule`},
		{name: "both wrong", method: "POST", path: "/other", wantStatus: http.StatusNotFound, wantReason: pipeline.ReasonRouteRuleMismatch,
			wantErr: `does not match its url`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(tt.path)
			r.Method = tt.method
			r.Context = map[string]string{pipeline.ContextRuleID: "orders-read"}
			d, tr := run(t, s, r)
			status := d.Denial.Status
			if d.Allowed {
				status = http.StatusOK
			}
			if status != tt.wantStatus || d.Reason != tt.wantReason {
				t.Fatalf("status %d reason %q, want %d %q (err %v)", status, d.Reason, tt.wantStatus, tt.wantReason, d.Err)
			}
			if d.Allowed {
				return
			}
			if d.RuleID != "" || d.Denial.Header.Get("x-handler") != "global" {
				t.Errorf("rule %q error handler %q: a mismatch is answered by the global handlers, not the route's rule", d.RuleID, d.Denial.Header.Get("x-handler"))
			}
			for _, step := range tr {
				if strings.HasPrefix(step, "authn:") {
					t.Errorf("handlers ran %q: the named rule must never judge a request it does not match", tr)
					break
				}
			}
			if d.Err == nil || !strings.Contains(d.Err.Error(), tt.wantErr) {
				t.Errorf("error %v, want it to contain %q", d.Err, tt.wantErr)
			}
		})
	}
}
