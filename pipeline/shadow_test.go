package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func shadowRule(id, url string, authn []pipeline.HandlerSpec) pipeline.RuleSpec {
	r := rule(id, url, authn)
	r.Mode = pipeline.ModeShadow
	return r
}

// TestShadowNeverDenies: a shadow rule runs its whole chain and records
// what enforcing would have answered, but always allows; a failed chain
// goes upstream without mutations.
func TestShadowNeverDenies(t *testing.T) {
	tests := []struct {
		name       string
		spec       func() pipeline.RuleSpec
		wantReason string
		wantStatus int
		wantTrace  string
		wantHeader string // the subject, and x-m set upstream; none on a failure
	}{
		{name: "would allow", spec: func() pipeline.RuleSpec {
			return shadowRule("r1", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")})
		},
			wantReason: pipeline.ReasonAllowed, wantTrace: "authn:a authz:z mutate:m", wantHeader: "sub-a"},
		{name: "would deny authentication", spec: func() pipeline.RuleSpec {
			return shadowRule("r1", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "401")})
		},
			wantReason: "fake_a", wantStatus: 401, wantTrace: "authn:a error:global"},
		{name: "would deny authorization", spec: func() pipeline.RuleSpec {
			r := shadowRule("r1", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")})
			r.Authorizer = ptr(h("z", "403"))
			return r
		}, wantReason: pipeline.ReasonAuthzDenied, wantStatus: 403, wantTrace: "authn:a authz:z error:global"},
		{name: "would deny in a mutator", spec: func() pipeline.RuleSpec {
			r := shadowRule("r1", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")})
			r.Mutators = []pipeline.HandlerSpec{h("m", ""), h("m2", "500")}
			return r
		}, wantReason: pipeline.ReasonMutationFailed, wantStatus: 500, wantTrace: "authn:a authz:z mutate:m mutate:m2 error:global"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, tr := run(t, mustCompile(t, tt.spec()), get("/x"))
			if !d.Allowed || !d.Shadow || d.RuleID != "r1" || d.Reason != pipeline.ReasonAllowed {
				t.Fatalf("got allowed=%v shadow=%v rule=%q reason=%q; want a shadow allow by r1", d.Allowed, d.Shadow, d.RuleID, d.Reason)
			}
			if d.WouldReason != tt.wantReason || d.WouldStatus != tt.wantStatus || d.WouldDeny() != (tt.wantStatus != 0) {
				t.Fatalf("would %q %d (deny %v), want %q %d", d.WouldReason, d.WouldStatus, d.WouldDeny(), tt.wantReason, tt.wantStatus)
			}
			if got := strings.Join(tr, " "); got != tt.wantTrace {
				t.Fatalf("trace %q, want %q", got, tt.wantTrace)
			}
			if d.Session == nil || d.Session.Header.Get("x-m") != tt.wantHeader || d.Subject != tt.wantHeader {
				t.Fatalf("session %+v subject %q, want upstream x-m %q", d.Session, d.Subject, tt.wantHeader)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestShadowRulesList: access_rules.shadow_rules shadows enforcing rules by
// id, and names unknown ids at compile time.
func TestShadowRulesList(t *testing.T) {
	cfg := config()
	cfg.ShadowRules = []string{"r1"}
	s, err := pipeline.Compile([]pipeline.RuleSpec{rule("r1", "https://api.test/a", []pipeline.HandlerSpec{h("a", "401")}),
		rule("r2", "https://api.test/b", []pipeline.HandlerSpec{h("a", "401")})}, cfg, registry())
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Execute(context.Background(), get("/a")); !d.Allowed || !d.WouldDeny() || !s.Rule("r1").Shadow() {
		t.Fatalf("listed rule: %+v", d)
	}
	if d := s.Execute(context.Background(), get("/b")); d.Allowed || d.Shadow || d.Denial.Status != 401 {
		t.Fatalf("unlisted rule: %+v", d)
	}

	cfg.ShadowRules = []string{"nope"}
	_, err = pipeline.Compile([]pipeline.RuleSpec{rule("r1", "https://api.test/a", []pipeline.HandlerSpec{h("a", "")})}, cfg, registry())
	if err == nil || !strings.Contains(err.Error(), `access_rules.shadow_rules[0]: no rule has id "nope"`) {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestShadowOnlyForASelectedRule: without a selected rule there is nothing
// to shadow: malformed requests, no match and ambiguous matches deny.
func TestShadowOnlyForASelectedRule(t *testing.T) {
	s := mustCompile(t,
		shadowRule("r1", "https://api.test/a/<.*>", []pipeline.HandlerSpec{h("a", "")}),
		shadowRule("r2", "https://api.test/<.*>/b", []pipeline.HandlerSpec{h("a", "")}))
	for _, tt := range []struct {
		path   string
		reason string
	}{
		{"/a/%zz", pipeline.ReasonMalformed},
		{"/nothing", pipeline.ReasonNoRule},
		{"/a/b", pipeline.ReasonAmbiguous},
	} {
		d, _ := run(t, s, get(tt.path))
		if d.Allowed || d.Shadow || d.Reason != tt.reason {
			t.Errorf("%s: allowed=%v shadow=%v reason=%q, want a %s denial", tt.path, d.Allowed, d.Shadow, d.Reason, tt.reason)
		}
	}
}

func TestModeValidated(t *testing.T) {
	r := rule("r1", "https://api.test/a", []pipeline.HandlerSpec{h("a", "")})
	r.Mode = "dry-run"
	_, err := pipeline.Compile([]pipeline.RuleSpec{r}, config(), registry())
	if err == nil || !strings.Contains(err.Error(), `(id "r1"): mode: must be "enforce" or "shadow", not "dry-run"`) {
		t.Fatalf("got %v", err)
	}
}
