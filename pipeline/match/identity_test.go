package match

import (
	"errors"
	"strings"
	"testing"
)

// TestCanonicalPatternHost checks that a rule's literal scheme and host
// are compiled in CanonicalHost form, so that a rule and a request naming
// one host in different spellings agree, as Envoy's case-insensitive
// virtual host routing does.
func TestCanonicalPatternHost(t *testing.T) {
	tests := []struct {
		strategy  Strategy
		pattern   string
		canonical string
		host      string // request host, already canonical
		path      string
	}{
		{Regexp, "https://API.Example.com/<.*>", "https://api.example.com/<.*>", "api.example.com", "/x"},
		{Glob, "https://API.Example.com/<**>", "https://api.example.com/<**>", "api.example.com", "/x"},
		{Regexp, "HTTPS://api.test/Admin/<.*>", "https://api.test/Admin/<.*>", "api.test", "/Admin/x"},
		{Regexp, "https://api.test:443/x", "https://api.test/x", "api.test", "/x"},
		{Regexp, "http://api.test:80/<.*>", "http://api.test/<.*>", "api.test", "/x"},
		{Regexp, "https://api.test.:8443/<.*>", "https://api.test:8443/<.*>", "api.test:8443", "/x"},
		{Regexp, "https://API.test", "https://api.test", "api.test", ""},
		{Regexp, "<http|https>://API.test/<.*>", "<http|https>://api.test/<.*>", "api.test", "/x"},
		{Regexp, "https://<[a-z]+>.Example.COM/Path/<.*>", "https://<[a-z]+>.example.com/Path/<.*>", "api.example.com", "/Path/x"},
		{Glob, "https://<*>.Example.COM/<**>", "https://<*>.example.com/<**>", "api.example.com", "/x"},
	}
	for _, tt := range tests {
		t.Run(string(tt.strategy)+" "+tt.pattern, func(t *testing.T) {
			p := mustCompile(t, tt.strategy, tt.pattern)
			if p.Canonical() != tt.canonical || p.String() != tt.pattern || p.HostError() != nil {
				t.Fatalf("Canonical() = %q, String() = %q, HostError() = %v; want %q, %q, nil", p.Canonical(), p.String(), p.HostError(), tt.canonical, tt.pattern)
			}
			scheme, _, _ := strings.Cut(tt.canonical, "://")
			if strings.HasPrefix(scheme, "<") {
				scheme = "https"
			}
			ix := NewIndex([]Entry{{Pattern: p, Methods: []string{"GET"}}})
			hits, err := ix.Lookup("GET", scheme, tt.host, tt.path, nil)
			if err != nil || len(hits) != 1 {
				t.Fatalf("Lookup(%s://%s%s) = %v, %v; want the rule", scheme, tt.host, tt.path, hits, err)
			}
		})
	}
}

// TestPatternHostNeverMatching reports literal hosts CanonicalHost refuses:
// no request can carry them, and Compile says why.
func TestPatternHostNeverMatching(t *testing.T) {
	for _, pattern := range []string{"https://api%2etest/<.*>", "https://user@api.test/x", "https://api.test:0/x", "https://bücher.example/<.*>"} {
		p := mustCompile(t, Regexp, pattern)
		if err := p.HostError(); err == nil || !errors.Is(err, ErrMalformedHost) {
			t.Errorf("Compile(%q).HostError() = %v, want ErrMalformedHost", pattern, err)
		}
	}
}

// TestMixedCaseHostSelectsTheSameRuleAsEnvoy is the regression of issue 8
// item 1: a rule set that makes every host but api.test public. Envoy
// routes "API.test" to api.test's virtual host; matching the host as sent
// let it through the public rule. With the host canonical (as
// Snapshot.Execute passes it), the request meets api.test's rule.
func TestMixedCaseHostSelectsTheSameRuleAsEnvoy(t *testing.T) {
	ids := []string{"R-api", "R-others-public"}
	ix := NewIndex([]Entry{
		{Pattern: mustCompile(t, Regexp, "https://API.test/<.*>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, `https://<(?!api\.test)[^/]+>/<.*>`), Methods: []string{"GET"}},
	})
	for _, host := range []string{"api.test", "API.test", "Api.Test.", "api.test:443"} {
		canon, err := CanonicalHost("https", host)
		if err != nil {
			t.Fatal(err)
		}
		hits, err := ix.Lookup("GET", "https", canon, "/admin", nil)
		if err != nil || len(hits) != 1 || ids[hits[0].Index] != "R-api" {
			t.Errorf("host %q: hits %v, %v; want R-api only", host, hits, err)
		}
	}
}

// TestCaseVariants checks the lookup behind the path case guard: the
// rules a request would select if its path were cased like their literal
// path prefix.
func TestCaseVariants(t *testing.T) {
	ids := []string{"R-adm", "R-any", "R-users", "R-num", "R-wild", "R-post", "R-plain", "R-kit"}
	ix := NewIndex([]Entry{
		{Pattern: mustCompile(t, Regexp, "https://api.test/admin/<.*>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/<.*>"), Methods: []string{"GET", "POST"}},
		{Pattern: mustCompile(t, Glob, "https://api.test/Users/<**>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/num/<[0-9]+>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "<https|http>://api.test/wild/<.*>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/post/<.*>"), Methods: []string{"POST"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/123/<.*>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/kit/<.*>"), Methods: []string{"GET"}},
	})
	tests := []struct {
		name, method, path string
		want               string
	}{
		{name: "upper-case prefix", path: "/ADMIN/x", want: "R-adm"},
		{name: "one letter", path: "/adMin/x", want: "R-adm"},
		{name: "exact case is no variant", path: "/admin/x", want: ""},
		{name: "rule with upper-case prefix", path: "/users/42", want: "R-users"},
		{name: "rule with upper-case prefix, exact", path: "/Users/42", want: ""},
		{name: "rest must still match", path: "/NUM/abc", want: ""},
		{name: "rest matches", path: "/NUM/42", want: "R-num"},
		{name: "wildcard authority", path: "/WILD/x", want: "R-wild"},
		{name: "method must be allowed", path: "/POST/x", want: ""},
		{name: "method allowed", method: "POST", path: "/POST/x", want: "R-post"},
		{name: "shorter than the prefix", path: "/ADMIN", want: ""},
		{name: "not the prefix", path: "/ADMINS/x", want: ""},
		{name: "non-ASCII after the prefix", path: "/USERS/\u212a", want: "R-users"},
		{name: "ASCII folding", path: "/KIT/x", want: "R-kit"},
		{name: "Kelvin sign is not K", path: "/\u212aIT/x", want: ""},
		{name: "digits have no case", path: "/123/x", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			hits, err := ix.CaseVariants(method, "https", "api.test", tt.path, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hits {
				got = append(got, ids[h.Index])
			}
			if strings.Join(got, ",") != tt.want {
				t.Fatalf("CaseVariants(%s %s) = %q, want %q", method, tt.path, got, tt.want)
			}
		})
	}
	// skip is the rule Lookup selected: it is never its own variant.
	if hits, _ := ix.CaseVariants("GET", "https", "api.test", "/ADMIN/x", 0, nil); len(hits) != 0 {
		t.Fatalf("skip ignored: %v", hits)
	}
}

// TestCaseVariantsFastPath keeps the guard free when neither the rules'
// literal path prefixes nor the request path have an upper-case letter.
func TestCaseVariantsFastPath(t *testing.T) {
	ix := NewIndex([]Entry{
		{Pattern: mustCompile(t, Regexp, "https://api.test/admin/<.*>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Glob, "<https|http>://api.test/svc/<**>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/<.*>"), Methods: []string{"GET"}},
	})
	dst := make([]Hit, 0, 2)
	if n := testing.AllocsPerRun(100, func() {
		if hits, err := ix.CaseVariants("GET", "https", "api.test", "/admin/users/42", -1, dst[:0]); err != nil || len(hits) != 0 {
			t.Fatalf("CaseVariants = %v, %v", hits, err)
		}
	}); n != 0 {
		t.Fatalf("CaseVariants allocated %v times", n)
	}
}

// TestPathLimits checks the configured bounds on the raw path.
func TestPathLimits(t *testing.T) {
	l := PathLimits{MaxLength: 16, MaxSegments: 3}
	tests := []struct {
		raw string
		bad bool
	}{
		{raw: ""},
		{raw: "/a/b/c"},
		{raw: "/0123456789abcde"},
		{raw: "/0123456789abcdef", bad: true},
		{raw: "/a/b/c/d", bad: true},
		{raw: "/a/../b/", bad: true}, // counted before dot segments resolve
		{raw: "////", bad: true},
	}
	for _, tt := range tests {
		err := l.Check(tt.raw)
		if (err != nil) != tt.bad || err != nil && !errors.Is(err, ErrMalformedPath) {
			t.Errorf("Check(%q) = %v, want bad=%v", tt.raw, err, tt.bad)
		}
	}
	if err := (PathLimits{}).Check("/" + strings.Repeat("a/", 10000)); err != nil {
		t.Errorf("zero limits refused a path: %v", err)
	}
}
