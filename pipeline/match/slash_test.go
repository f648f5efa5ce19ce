package match

import "testing"

// TestTrailingSlashGap covers issue #10 item 11 per rule shape and
// strategy: a gap only where the rule matches ".../x/" but not ".../x",
// never at the host root, and a fix in the rule's own syntax that,
// compiled and matched, covers the bare path and everything the rule
// covered, and nothing beside it.
func TestTrailingSlashGap(t *testing.T) {
	tests := []struct {
		name     string
		strategy Strategy
		pattern  string
		wantBare string // "" means no gap
		wantFix  string
		// probes, for a gap: paths the rule and the fix both match, and
		// paths the fix must not match. The bare path is always probed.
		covers, excludes []string
	}{
		{name: "regexp host root matches /", strategy: Regexp, pattern: "https://api.test/<.*>"},
		{name: "glob host root matches /", strategy: Glob, pattern: "https://api.test/<**>"},
		{name: "glob host root with empty branch", strategy: Glob, pattern: "https://api.test/<{,**}>"},
		{name: "regexp host root, pattern host", strategy: Regexp, pattern: "https://<[a-z]+>.api.test/<.*>"},
		{name: "regexp host root with port", strategy: Regexp, pattern: "https://api.test:8443/<.*>"},
		{name: "regexp prefix", strategy: Regexp, pattern: "https://api.test/admin/<.*>",
			wantBare: "https://api.test/admin", wantFix: "https://api.test/admin<(/.*)?>",
			covers: []string{"/admin/x", "/admin/x/y"}, excludes: []string{"/adminx", "/", "/other"}},
		{name: "glob prefix gets glob syntax", strategy: Glob, pattern: "https://api.test/admin/<**>",
			wantBare: "https://api.test/admin", wantFix: "https://api.test/admin<{,/**}>",
			covers: []string{"/admin/x", "/admin/x/y"}, excludes: []string{"/adminx", "/", "/other"}},
		{name: "glob single segment", strategy: Glob, pattern: "https://api.test/v1/users/<*>",
			wantBare: "https://api.test/v1/users", wantFix: "https://api.test/v1/users<{,/*}>",
			covers: []string{"/v1/users/42"}, excludes: []string{"/v1/users/42/x", "/v1/usersx"}},
		{name: "glob nested empty branch", strategy: Glob, pattern: "https://api.test/admin/<{,**}>",
			wantBare: "https://api.test/admin", wantFix: "https://api.test/admin<{,/{,**}}>",
			covers: []string{"/admin/x/y"}, excludes: []string{"/adminx"}},
		{name: "regexp optional digits", strategy: Regexp, pattern: "https://api.test/items/<[0-9]*>",
			wantBare: "https://api.test/items", wantFix: "https://api.test/items<(/[0-9]*)?>",
			covers: []string{"/items/42"}, excludes: []string{"/items/x", "/items42"}},
		{name: "regexp alternation keeps its precedence", strategy: Regexp, pattern: "https://api.test/v/<a|b|>",
			wantBare: "https://api.test/v", wantFix: "https://api.test/v<(/(?:a|b|))?>",
			covers: []string{"/v/a", "/v/b"}, excludes: []string{"/vb", "/v/c"}},
		{name: "regexp needing regexp2", strategy: Regexp, pattern: "https://api.test/admin/<(?!secret).*>",
			wantBare: "https://api.test/admin", wantFix: "https://api.test/admin<(/(?!secret).*)?>",
			covers: []string{"/admin/x"}, excludes: []string{"/admin/secret", "/adminx"}},
		{name: "canonical host is probed in canonical form", strategy: Regexp, pattern: "https://API.test:443/admin/<.*>",
			wantBare: "https://API.test:443/admin", wantFix: "https://API.test:443/admin<(/.*)?>",
			covers: []string{"/admin/x"}, excludes: []string{"/adminx"}},
		{name: "pattern host", strategy: Regexp, pattern: "https://<[a-z]+>.api.test/admin/<.*>",
			wantBare: "https://<[a-z]+>.api.test/admin", wantFix: "https://<[a-z]+>.api.test/admin<(/.*)?>"},
		{name: "regexp already covers both", strategy: Regexp, pattern: "https://api.test/admin<(/.*)?>"},
		{name: "glob brace with an empty branch covers both", strategy: Glob, pattern: "https://api.test/admin<{,/**}>"},
		{name: "regexp part cannot be empty", strategy: Regexp, pattern: "https://api.test/admin/<.+>"},
		{name: "glob part cannot be empty", strategy: Glob, pattern: "https://api.test/admin/<?*>"},
		{name: "regexp syntax under glob needs a dot", strategy: Glob, pattern: "https://api.test/admin/<.*>"},
		{name: "literal after the part", strategy: Regexp, pattern: "https://api.test/admin/<.*>/edit"},
		{name: "no part", strategy: Regexp, pattern: "https://api.test/admin/"},
		{name: "no scheme never matches", strategy: Regexp, pattern: "api.test/admin/<.*>"},
		{name: "no fix that still matches what the part matched", strategy: Regexp, pattern: "https://<[a-z]+>.test/admin/<^>",
			wantBare: "https://<[a-z]+>.test/admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.strategy, tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			gap, ok := p.TrailingSlashGap()
			if ok != (tt.wantBare != "") || gap.Bare != tt.wantBare || gap.Fix != tt.wantFix {
				t.Fatalf("gap %+v %v, want bare %q fix %q", gap, ok, tt.wantBare, tt.wantFix)
			}
			if tt.covers == nil {
				return
			}
			fix, err := Compile(tt.strategy, tt.wantFix)
			if err != nil {
				t.Fatalf("the suggested fix does not compile: %v", err)
			}
			bare := MatchString("https", "api.test", urlPath(t, tt.wantBare))
			if _, ok, _ := p.Match(bare); ok {
				t.Errorf("the rule itself matches %s", bare)
			}
			if _, ok, _ := fix.Match(bare); !ok {
				t.Errorf("fix %s does not match %s", tt.wantFix, bare)
			}
			for _, probe := range tt.covers {
				s := MatchString("https", "api.test", probe)
				if _, ok, _ := p.Match(s); !ok {
					t.Errorf("probe %s is not matched by the rule itself", probe)
				}
				if _, ok, _ := fix.Match(s); !ok {
					t.Errorf("fix %s does not match %s", tt.wantFix, probe)
				}
			}
			for _, probe := range tt.excludes {
				if _, ok, _ := fix.Match(MatchString("https", "api.test", probe)); ok {
					t.Errorf("fix %s matches %s", tt.wantFix, probe)
				}
			}
		})
	}
}

// urlPath returns the path of a literal https://api.test... URL.
func urlPath(t *testing.T, url string) string {
	t.Helper()
	for _, prefix := range []string{"https://api.test:443", "https://API.test:443", "https://api.test"} {
		if len(url) > len(prefix) && url[:len(prefix)] == prefix && url[len(prefix)] == '/' {
			return url[len(prefix):]
		}
	}
	t.Fatalf("not a literal https://api.test URL: %s", url)
	return ""
}
