package pipeline_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// outcomeOf summarises a decision as "200 <rule>" or "<status> <reason>".
func outcomeOf(d pipeline.Decision) string {
	if d.Allowed {
		return "200 " + d.RuleID
	}
	return fmt.Sprintf("%d %s", d.Denial.Status, d.Reason)
}

// TestExecuteCanonicalHost checks that Execute matches the host in
// canonical form, whatever the front door passed, shows handlers that
// form, and refuses a host that has none.
func TestExecuteCanonicalHost(t *testing.T) {
	s := mustCompile(t,
		rule("api", "https://API.test/<.*>", []pipeline.HandlerSpec{h("a", "")}),
		rule("port", "https://api.test:8443/<.*>", []pipeline.HandlerSpec{h("p", "")}))
	tests := []struct {
		host, want, wantHost string
	}{
		{"api.test", "200 api", "api.test"},
		{"API.TEST", "200 api", "api.test"},
		{"api.test.", "200 api", "api.test"},
		{"Api.Test.:443", "200 api", "api.test"},
		{"api.test:8443", "200 port", "api.test:8443"},
		{"API.test.:8443", "200 port", "api.test:8443"},
		{"api.test:80", "404 " + pipeline.ReasonNoRule, "api.test:80"},
		{"api%2etest", "400 " + pipeline.ReasonMalformed, ""},
		{"evil@api.test", "400 " + pipeline.ReasonMalformed, ""},
		{"api.test:99999", "400 " + pipeline.ReasonMalformed, ""},
	}
	for _, tt := range tests {
		r := get("/x")
		r.Host = tt.host
		d, _ := run(t, s, r)
		if got := outcomeOf(d); got != tt.want {
			t.Errorf("host %q: %s (%v), want %s", tt.host, got, d.Err, tt.want)
		}
		if tt.wantHost != "" && r.Host != tt.wantHost {
			t.Errorf("host %q: request host after Execute %q, want %q", tt.host, r.Host, tt.wantHost)
		}
		if d.Allowed && d.Session.MatchContext.URL.Host != tt.wantHost {
			t.Errorf("host %q: MatchContext.URL.Host %q, want %q", tt.host, d.Session.MatchContext.URL.Host, tt.wantHost)
		}
	}
}

// TestExecuteRefusesFragments checks that a '#' anywhere in the target is
// a 400, not cut off: "/public/x#/../../admin" must not be judged as
// /public/x.
func TestExecuteRefusesFragments(t *testing.T) {
	s := mustCompile(t, rule("pub", "https://api.test/public/<.*>", []pipeline.HandlerSpec{h("a", "")}))
	for _, target := range []string{"/public/x#/../../admin", "/public/x#", "/public/x?q=1#frag", "/public/x?#"} {
		if d, _ := run(t, s, get(target)); outcomeOf(d) != "400 "+pipeline.ReasonMalformed {
			t.Errorf("%s: %s, want 400 %s", target, outcomeOf(d), pipeline.ReasonMalformed)
		}
	}
	if d, _ := run(t, s, get("/public/a%23b")); !d.Allowed {
		t.Errorf("an encoded '#' is a path character: %s", outcomeOf(d))
	}
}

// TestExecutePathLimits checks the default and configured bounds on the
// raw path, and that a negative bound does not load.
func TestExecutePathLimits(t *testing.T) {
	any := rule("any", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")})
	def := mustCompile(t, any)
	long := "/" + strings.Repeat("a", pipeline.DefaultMaxPathLength)
	deep := strings.Repeat("/a", pipeline.DefaultMaxPathSegments+1)
	for _, tt := range []struct {
		s          *pipeline.Snapshot
		path, want string
	}{
		{def, long[:pipeline.DefaultMaxPathLength], "200 any"},
		{def, long, "400 " + pipeline.ReasonMalformed},
		{def, deep[2:], "200 any"},
		{def, deep, "400 " + pipeline.ReasonMalformed},
	} {
		if d, _ := run(t, tt.s, get(tt.path)); outcomeOf(d) != tt.want {
			t.Errorf("%d bytes, %d segments: %s, want %s", len(tt.path), strings.Count(tt.path, "/"), outcomeOf(d), tt.want)
		}
	}

	cfg := config()
	cfg.MaxPathLength, cfg.MaxPathSegments = 8, 2
	small, err := pipeline.Compile([]pipeline.RuleSpec{any}, cfg, registry())
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{"/a/b": "200 any", "/a/b/c": "400 " + pipeline.ReasonMalformed, "/abcdefgh": "400 " + pipeline.ReasonMalformed} {
		if d, _ := run(t, small, get(path)); outcomeOf(d) != want {
			t.Errorf("limits 8/2, %s: %s, want %s", path, outcomeOf(d), want)
		}
	}

	cfg.MaxPathLength, cfg.MaxPathSegments = -1, -1
	_, err = pipeline.Compile(nil, cfg, registry())
	if err == nil || !strings.Contains(err.Error(), "access_rules.max_path_length") || !strings.Contains(err.Error(), "access_rules.max_path_segments") {
		t.Fatalf("negative limits: %v", err)
	}
}

// TestPathCaseCannotFallThroughToABroaderRule is issue 8 item 2's path
// case guard: /ADMIN/x misses the rule for /admin/<.*>, and an upstream
// that ignores case would serve it as /admin/x, so a broader rule must
// not decide it. The broader rule is the usual "everything else" form,
// which leaves the protected prefixes out with a lookahead.
func TestPathCaseCannotFallThroughToABroaderRule(t *testing.T) {
	adm := rule("adm", "https://api.test/admin/<.*>", []pipeline.HandlerSpec{h("adm", "401")})
	anyRule := rule("any", "https://api.test/<(?!admin/|Users/).*>", []pipeline.HandlerSpec{h("any", "")})
	users := rule("users", "https://api.test/Users/<[0-9]+>", []pipeline.HandlerSpec{h("users", "401")})
	s := mustCompile(t, adm, anyRule, users)
	tests := []struct{ path, want string }{
		{"/ADMIN/x", "400 " + pipeline.ReasonPathCase},
		{"/Admin/secrets", "400 " + pipeline.ReasonPathCase},
		{"/ADMIN/x/", "400 " + pipeline.ReasonPathCase},
		{"/adm%49n/x", "400 " + pipeline.ReasonPathCase},
		{"/ADMIN/", "400 " + pipeline.ReasonPathCase}, // with its slash, /ADMIN/ is /admin/ to such an upstream
		{"/users/42", "400 " + pipeline.ReasonPathCase},
		{"/admin/x", "401 fake_adm"},
		{"/Users/42", "401 fake_users"},
		{"/users/abc", "200 any"}, // R-users would not match /Users/abc either
		{"/ADMINS/x", "200 any"},
		{"/other", "200 any"},
	}
	for _, tt := range tests {
		d, _ := run(t, s, get(tt.path))
		if got := outcomeOf(d); got != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.path, got, d.Err, tt.want)
		}
		if d.Reason == pipeline.ReasonPathCase && !(strings.Contains(d.Err.Error(), `"any"`) && strings.Contains(d.Err.Error(), "case_sensitive_upstreams")) {
			t.Errorf("%s: the error must name the rules and the switch: %v", tt.path, d.Err)
		}
	}

	// Without a broader rule, nothing matches and nothing changes.
	if d, _ := run(t, mustCompile(t, adm), get("/ADMIN/x")); outcomeOf(d) != "404 "+pipeline.ReasonNoRule {
		t.Errorf("/ADMIN/x with R-adm alone: %s", outcomeOf(d))
	}
	// A route that names its rule is not matched by URL.
	r := get("/ADMIN/x")
	r.Context = map[string]string{pipeline.ContextRuleID: "any"}
	if d, _ := run(t, s, r); outcomeOf(d) != "200 any" {
		t.Errorf("/ADMIN/x routed to any: %s", outcomeOf(d))
	}

	// The switch for deployments whose upstreams compare case.
	cfg := config()
	cfg.CaseSensitiveUpstreams = true
	cs, err := pipeline.Compile([]pipeline.RuleSpec{adm, anyRule, users}, cfg, registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/ADMIN/x", "/users/42"} {
		if d, _ := run(t, cs, get(p)); outcomeOf(d) != "200 any" {
			t.Errorf("case_sensitive_upstreams, %s: %s, want 200 any", p, outcomeOf(d))
		}
	}
}

// TestCompileCanonicalisesRuleHosts checks that rule URLs naming one host
// in two spellings conflict, and that Compile says how it reads a URL it
// canonicalised or one that can never match.
func TestCompileCanonicalisesRuleHosts(t *testing.T) {
	_, err := pipeline.Compile([]pipeline.RuleSpec{
		rule("a", "https://api.test/x", []pipeline.HandlerSpec{h("a", "")}),
		rule("b", "https://API.test:443/x", []pipeline.HandlerSpec{h("b", "")}),
	}, config(), registry())
	if err == nil || !strings.Contains(err.Error(), "conflicts with") {
		t.Fatalf("same URL in two spellings: %v, want a conflict", err)
	}

	s := mustCompile(t,
		rule("upper", "https://API.test/x", []pipeline.HandlerSpec{h("a", "")}),
		rule("bad", "https://api%2etest/x", []pipeline.HandlerSpec{h("a", "")}))
	want := []string{
		`(id "upper"): match.url is matched as https://api.test/x`,
		`(id "bad"): match.url never matches: malformed host "api%2etest": percent-encoding`,
	}
	for _, w := range want {
		found := false
		for _, got := range s.Warnings {
			found = found || strings.Contains(got, w)
		}
		if !found {
			t.Errorf("no warning %q in %q", w, s.Warnings)
		}
	}
}
