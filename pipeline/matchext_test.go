package pipeline_test

import (
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func withHeaders(r pipeline.RuleSpec, h map[string]string) pipeline.RuleSpec {
	m := *r.Match
	m.Headers = h
	r.Match = &m
	return r
}

func withPriority(r pipeline.RuleSpec, p int) pipeline.RuleSpec { r.Priority = p; return r }

// TestMatchHeadersAndPriority: match.headers narrows the URL and method
// hits, priority picks among what is left, and a tie stays ambiguous.
func TestMatchHeadersAndPriority(t *testing.T) {
	authn := []pipeline.HandlerSpec{h("a", "")}
	s := mustCompile(t,
		rule("any", "https://api.test/<.*>", authn),
		withPriority(withHeaders(rule("acme", "https://api.test/<.*>", authn), map[string]string{"X-Tenant": "acme"}), 10),
		withPriority(withHeaders(rule("v2", "https://api.test/<.*>", authn), map[string]string{"x-api-version": "2.<[0-9]+>"}), 5),
		withPriority(withHeaders(rule("beta", "https://api.test/<.*>", authn), map[string]string{"x-beta": "on"}), 5),
	)
	tests := []struct {
		name   string
		header pipeline.Header
		rule   string
		reason string
	}{
		{"no header: the default rule", nil, "any", pipeline.ReasonAllowed},
		{"exact header", pipeline.Header{"x-tenant": {"acme"}}, "acme", pipeline.ReasonAllowed},
		{"exact header other value", pipeline.Header{"x-tenant": {"other"}}, "any", pipeline.ReasonAllowed},
		{"pattern header", pipeline.Header{"x-api-version": {"2.7"}}, "v2", pipeline.ReasonAllowed},
		{"pattern header miss", pipeline.Header{"x-api-version": {"3.0"}}, "any", pipeline.ReasonAllowed},
		{"highest priority wins", pipeline.Header{"x-tenant": {"acme"}, "x-beta": {"on"}}, "acme", pipeline.ReasonAllowed},
		{"equal priorities are ambiguous", pipeline.Header{"x-api-version": {"2.1"}, "x-beta": {"on"}}, "", pipeline.ReasonAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get("/x")
			if tt.header != nil {
				r.Header = tt.header
			}
			d, _ := run(t, s, r)
			if d.RuleID != tt.rule || d.Reason != tt.reason {
				t.Fatalf("rule %q reason %q, want %q %q", d.RuleID, d.Reason, tt.rule, tt.reason)
			}
		})
	}
}

// TestDuplicateMatchAllowsHeadersAndPriority: the same methods and URL
// conflict unless match.headers or priority tell the rules apart.
func TestDuplicateMatchAllowsHeadersAndPriority(t *testing.T) {
	authn := []pipeline.HandlerSpec{h("a", "")}
	base := func(id string) pipeline.RuleSpec { return rule(id, "https://api.test/x", authn) }
	tests := []struct {
		name     string
		a, b     pipeline.RuleSpec
		conflict bool
	}{
		{"same match", base("a"), base("b"), true},
		{"different headers", withHeaders(base("a"), map[string]string{"x-t": "1"}), withHeaders(base("b"), map[string]string{"x-t": "2"}), false},
		{"headers against none", withHeaders(base("a"), map[string]string{"x-t": "1"}), base("b"), false},
		{"same headers, name case aside", withHeaders(base("a"), map[string]string{"X-T": "1"}), withHeaders(base("b"), map[string]string{"x-t": "1"}), true},
		{"different priority", withPriority(base("a"), 1), base("b"), false},
		{"same priority", withPriority(base("a"), 1), withPriority(base("b"), 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pipeline.Compile([]pipeline.RuleSpec{tt.a, tt.b}, config(), registry())
			if got := err != nil && strings.Contains(err.Error(), "conflicts with"); got != tt.conflict || (err != nil && !got) {
				t.Fatalf("err = %v, want conflict %v", err, tt.conflict)
			}
		})
	}
}

func TestMatchHeadersErrorNamesRuleAndHeader(t *testing.T) {
	r := withHeaders(rule("r1", "https://api.test/x", []pipeline.HandlerSpec{h("a", "")}), map[string]string{"x-v": "<[>"})
	_, err := pipeline.Compile([]pipeline.RuleSpec{r}, config(), registry())
	if err == nil || !strings.Contains(err.Error(), `(id "r1"): match.headers: header "x-v"`) {
		t.Fatalf("got %v", err)
	}
}

// TestRouteRuleNeedsItsHeaders: a rule named by the route
// (context_extensions.rule_id) still requires its match.headers; a request
// without them is a route_rule_mismatch, never judged by that rule.
func TestRouteRuleNeedsItsHeaders(t *testing.T) {
	s := mustCompile(t, withHeaders(rule("acme", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")}), map[string]string{"x-tenant": "acme"}))
	for _, tt := range []struct {
		tenant string
		reason string
	}{
		{"acme", pipeline.ReasonAllowed},
		{"other", pipeline.ReasonRouteRuleMismatch},
	} {
		r := get("/x")
		r.Header = pipeline.Header{"x-tenant": {tt.tenant}}
		r.Context = map[string]string{pipeline.ContextRuleID: "acme"}
		if d, tr := run(t, s, r); d.Reason != tt.reason || (d.Reason != pipeline.ReasonAllowed && len(tr) != 1) {
			t.Errorf("tenant %s: reason %q trace %v, want %q", tt.tenant, d.Reason, tr, tt.reason)
		}
	}
}

// TestHeadersMissIsNoRuleMatch: a request whose url and method match a
// rule but whose headers do not is no_rule_match, and the decision log
// says which rule's match.headers it missed (not a method mismatch).
func TestHeadersMissIsNoRuleMatch(t *testing.T) {
	s := mustCompile(t, withHeaders(rule("acme", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")}), map[string]string{"x-tenant": "acme"}))
	d, _ := run(t, s, get("/x"))
	if d.Reason != pipeline.ReasonNoRule || d.Denial.Status != 404 || !strings.Contains(d.Err.Error(), `matches rule "acme", but not its match.headers`) {
		t.Fatalf("reason %q status %d err %v", d.Reason, d.Denial.Status, d.Err)
	}
}
