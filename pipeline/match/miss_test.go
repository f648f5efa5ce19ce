package match_test

import (
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

func TestPatternMiss(t *testing.T) {
	tests := []struct {
		pattern, scheme, host, path string
		strategy                    match.Strategy
		want                        match.MissPart
		detail                      string
	}{
		{"https://api.test/orders/<[0-9]+>", "http", "api.test", "/orders/1", match.Regexp, match.MissScheme, "the pattern wants https, the request is http"},
		{"https://api.test/orders/<[0-9]+>", "https", "api.example", "/orders/1", match.Regexp, match.MissHost, "the pattern wants host api.test, the request has api.example"},
		{"https://api.test/orders", "https", "api.testing", "/orders", match.Regexp, match.MissHost, "the pattern wants host api.test, the request has api.testing"},
		{"https://api.test/orders/<[0-9]+>", "https", "api.test", "/order/1", match.Regexp, match.MissPathSegment, `path segment 1: the pattern wants "orders", the request has "order"`},
		{"https://api.test/a/b/<[0-9]+>", "https", "api.test", "/a/c/1", match.Regexp, match.MissPathSegment, `path segment 2: the pattern wants "b", the request has "c"`},
		{"https://api.test/a/b", "https", "api.test", "/a", match.Regexp, match.MissPathSegment, `path segment 2: the pattern wants "b", the request path ends before it`},
		{"https://api.test/a", "https", "api.test", "/a/b", match.Regexp, match.MissPathSegment, `the pattern ends at "https://api.test/a"; the request goes on with "/b"`},
		{"https://api.test/v<[0-9]+>/x", "https", "api.test", "/w1/x", match.Regexp, match.MissPathSegment, `path segment 1: the pattern wants "v<[0-9]+>", the request has "w1"`},
		{"https://api.test/orders/<[0-9]+>", "https", "api.test", "/orders/x", match.Regexp, match.MissPattern, `"x" does not match "<[0-9]+>"`},
		{"https://api.test/orders/<*>", "https", "api.test", "/orders/a/b", match.Glob, match.MissPattern, `"a/b" does not match "<*>"`},
		{"<http|https>://<[^/]+>/public<(/.*)?>", "https", "api.test", "/x", match.Regexp, match.MissPattern, `"https://api.test/x" does not match "<http|https>://<[^/]+>/public<(/.*)?>"`},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.host+tt.path, func(t *testing.T) {
			p, err := match.Compile(tt.strategy, tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := p.Match(match.MatchString(tt.scheme, tt.host, tt.path)); ok {
				t.Fatal("the request matches; Miss is for misses")
			}
			m := p.Miss(tt.scheme, tt.host, tt.path)
			if m.Part != tt.want || m.Detail != tt.detail {
				t.Errorf("Miss = %s %q, want %s %q", m.Part, m.Detail, tt.want, tt.detail)
			}
		})
	}
}
