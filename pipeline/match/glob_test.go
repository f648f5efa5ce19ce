package match

import (
	"errors"
	"strings"
	"testing"
)

// TestGlobUnpairedBracesAreRefused: gobwas/glob compiles an unclosed '{'
// and then panics while matching, which took `serve` down at load (the
// trailing-slash check probes every pattern) or on the first request.
func TestGlobUnpairedBracesAreRefused(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		bad     string // "" when the pattern must compile
	}{
		{"https://api.test/admin/<{>", "'{' without '}'"},
		{"https://api.test/<{a,b>/x", "'{' without '}'"},
		{"https://api.test/<a}>", "'}' without '{'"},
		{"https://api.test/<{a,{b,c}>", "'{' without '}'"},
		{"https://api.test/<{a,b}>", ""},
		{"https://api.test/<{a,{b,c}}>", ""},
		{`https://api.test/<\{>`, ""},
		{"https://api.test/<[{]>", ""},
		{"<{http,https}>://api.test/<*>", ""},
	} {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := Compile(Glob, tt.pattern)
			if tt.bad == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				// Matching must not panic.
				for _, s := range []string{"https://api.test/admin/", "https://api.test/a/x", "https://api.test/{"} {
					_, _, _ = p.Match(s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Fatalf("err = %v, want %q", err, tt.bad)
			}
		})
	}
}

// TestGlobMatcherPanicIsADenial: should gobwas fail on a pattern the
// check lets through, Match reports ErrMatchLimit (the caller denies)
// instead of crashing the process.
func TestGlobMatcherPanicIsADenial(t *testing.T) {
	m := globMatcher{g: panicky{}}
	caps, ok, err := m.match("https://api.test/")
	if ok || caps != nil || !errors.Is(err, ErrMatchLimit) {
		t.Fatalf("match = %v, %v, %v; want no match and ErrMatchLimit", caps, ok, err)
	}
}

type panicky struct{}

func (panicky) Match(string) bool { panic("slice bounds out of range") }
