package pipeline_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// fixIn finds the pattern a trailing-slash warning suggests.
var fixIn = regexp.MustCompile(`; write (\S+) to cover both$`)

// TestLoadWarningsPerRuleShape covers issue #10 item 11: the load-time
// warnings of each rule shape under each strategy. Where a warning
// suggests a fix, the fix is loaded in place of the rule and must load
// without that warning and select the bare path, the path with a slash,
// and the paths below it, and nothing beside them.
func TestLoadWarningsPerRuleShape(t *testing.T) {
	const w = `rules.yaml: rules[0] (id "r"): `
	tests := []struct {
		name     string
		strategy string
		url      string
		methods  []string
		upstream *pipeline.UpstreamSpec
		want     []string
		bare     string // for a suggested fix: the path the rule missed
	}{
		{name: "regexp host root matches /", strategy: "regexp", url: "https://api.test/<.*>"},
		{name: "glob host root matches /", strategy: "glob", url: "https://api.test/<**>"},
		{name: "glob host root with an empty branch", strategy: "glob", url: "https://api.test/<{,**}>"},
		{name: "regexp host root of a host pattern", strategy: "regexp", url: "https://<[a-z]+>.api.test/<.*>"},
		{name: "regexp prefix", strategy: "regexp", url: "https://api.test/admin/<.*>", bare: "/admin",
			want: []string{w + "match.url https://api.test/admin/<.*> does not match https://api.test/admin or https://api.test/admin/ (a trailing slash is removed before matching); write https://api.test/admin<(/.*)?> to cover both"}},
		{name: "glob prefix gets a glob fix", strategy: "glob", url: "https://api.test/admin/<**>", bare: "/admin",
			want: []string{w + "match.url https://api.test/admin/<**> does not match https://api.test/admin or https://api.test/admin/ (a trailing slash is removed before matching); write https://api.test/admin<{,/**}> to cover both"}},
		{name: "glob one segment", strategy: "glob", url: "https://api.test/users/<*>", bare: "/users",
			want: []string{w + "match.url https://api.test/users/<*> does not match https://api.test/users or https://api.test/users/ (a trailing slash is removed before matching); write https://api.test/users<{,/*}> to cover both"}},
		{name: "glob brace with an empty branch covers both", strategy: "glob", url: "https://api.test/admin<{,/**}>"},
		{name: "regexp optional group covers both", strategy: "regexp", url: "https://api.test/admin<(/.*)?>"},
		{name: "regexp syntax under glob is not a prefix", strategy: "glob", url: "https://api.test/admin/<.*>"},
		{name: "part that cannot be empty", strategy: "regexp", url: "https://api.test/admin/<.+>"},
		{name: "canonical form and prefix", strategy: "regexp", url: "https://API.test:443/admin/<.*>", bare: "/admin",
			want: []string{
				w + "match.url is matched as https://api.test/admin/<.*> (hosts and schemes are compared in canonical form)",
				w + "match.url https://API.test:443/admin/<.*> does not match https://API.test:443/admin or https://API.test:443/admin/ (a trailing slash is removed before matching); write https://API.test:443/admin<(/.*)?> to cover both",
			}},
		{name: "no methods", strategy: "regexp", url: "https://api.test/x", methods: []string{},
			want: []string{w + "match.methods is empty, the rule never matches"}},
		{name: "no scheme", strategy: "glob", url: "api.test/x",
			want: []string{w + "match.url has no scheme, the rule never matches"}},
		{name: "upstream block", strategy: "regexp", url: "https://api.test/x", upstream: &pipeline.UpstreamSpec{URL: "http://backend:8080", StripPath: "/x"},
			want: []string{w + "upstream is ignored: Envoy routes the request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := rule("r", tt.url, []pipeline.HandlerSpec{h("a", "")})
			if tt.methods != nil {
				spec.Match.Methods = tt.methods
			}
			spec.Upstream = tt.upstream
			s := compileWith(t, tt.strategy, spec)
			if !slices.Equal(s.Warnings, tt.want) {
				t.Fatalf("warnings:\n%q\nwant\n%q", s.Warnings, tt.want)
			}
			if tt.bare == "" {
				return
			}
			if d, _ := run(t, s, get(tt.bare+"/")); d.Allowed {
				t.Fatalf("the warning is wrong: the rule selects %s/", tt.bare)
			}
			m := fixIn.FindStringSubmatch(s.Warnings[len(s.Warnings)-1])
			if m == nil {
				t.Fatal("no fix suggested")
			}
			fixed := compileWith(t, tt.strategy, rule("r", m[1], []pipeline.HandlerSpec{h("a", "")}))
			for _, msg := range fixed.Warnings {
				if fixIn.MatchString(msg) {
					t.Errorf("the fix %s warns again: %s", m[1], msg)
				}
			}
			for _, path := range []string{tt.bare, tt.bare + "/", tt.bare + "/x"} {
				if d, _ := run(t, fixed, get(path)); !d.Allowed {
					t.Errorf("fix %s does not select %s: %s", m[1], path, d.Reason)
				}
			}
			for _, path := range []string{tt.bare + "x", "/other"} {
				if d, _ := run(t, fixed, get(path)); d.Allowed || d.Reason != pipeline.ReasonNoRule {
					t.Errorf("fix %s selects %s", m[1], path)
				}
			}
		})
	}
}

func compileWith(t *testing.T, strategy string, specs ...pipeline.RuleSpec) *pipeline.Snapshot {
	t.Helper()
	cfg := config()
	cfg.MatchingStrategy = strategy
	s, err := pipeline.Compile(specs, cfg, registry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}
