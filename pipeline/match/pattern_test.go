package match

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2/v2"
	"github.com/gobwas/glob"
)

func TestParseStrategy(t *testing.T) {
	tests := []struct {
		name, in string
		want     Strategy
		bad      bool
	}{
		{name: "empty means regexp", in: "", want: Regexp},
		{name: "regexp", in: "regexp", want: Regexp},
		{name: "glob", in: "glob", want: Glob},
		{name: "unknown", in: "UNKNOWN", bad: true},
		{name: "case matters", in: "Glob", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStrategy(tt.in)
			if (err != nil) != tt.bad || got != tt.want {
				t.Fatalf("ParseStrategy(%q) = %q, %v", tt.in, got, err)
			}
		})
	}
}

func TestCompileErrorsNameTheProblem(t *testing.T) {
	tests := []struct {
		name     string
		strategy Strategy
		pattern  string
		want     string
	}{
		{name: "unbalanced open", strategy: Regexp, pattern: "https://h/<.*", want: "unbalanced <>"},
		{name: "unbalanced close", strategy: Glob, pattern: "https://h/.*>", want: "unbalanced <>"},
		{name: "lookbehind opens a level", strategy: Regexp, pattern: "https://h/<(?<!x)y>", want: "unbalanced <>"},
		{name: "bad class", strategy: Regexp, pattern: "https://h/<[0-9>", want: "<[0-9>"},
		{name: "bad repeat", strategy: Regexp, pattern: "https://h/<*>", want: "<*>"},
		{name: "bad glob", strategy: Glob, pattern: "https://h/<[a>", want: "glob https://h/[a: unexpected end of input"},
		{name: "unknown strategy", strategy: "UNKNOWN", pattern: "https://h/", want: `unknown matching strategy "UNKNOWN"`},
		// A part that closes its own group and opens another would turn
		// ^...(a)|(.*)$ into an unanchored match-anything; ladon rejects
		// it by compiling each part alone, and so do we (B-12).
		{name: "group breakout", strategy: Regexp, pattern: "https://h/<a)|(.*>", want: "<a)|(.*>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.strategy, tt.pattern)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want an error", tt.pattern, p)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "compile pattern") {
				t.Fatalf("Compile(%q) error %q does not mention %q", tt.pattern, err, tt.want)
			}
		})
	}
}

func TestPatternString(t *testing.T) {
	const raw = "https://api.test/users/<[0-9]+>"
	if got := mustCompile(t, "", raw).String(); got != raw {
		t.Fatalf("String() = %q, want %q", got, raw)
	}
}

// TestRegexpEngineChoice checks that only what RE2 cannot express reaches
// the backtracking engine, so B-14's nested quantifier runs in linear time.
func TestRegexpEngineChoice(t *testing.T) {
	tests := []struct {
		name      string
		pattern   string
		backtrack bool
	}{
		{name: "plain", pattern: "https://api.test/users/<[0-9]+>"},
		{name: "B-14 nested quantifier", pattern: "https://api.test/search/<(a+)+b>"},
		{name: "posix class", pattern: "https://api.test/users/<[[:digit:]]*>"},
		{name: "lookahead", pattern: "https://api.test/users/<(?!admin).*>", backtrack: true},
		{name: "backreference", pattern: `https://api.test/<(a)\1>`, backtrack: true},
		{name: "numeric group name", pattern: "https://api.test/<(?P<1>a)>", backtrack: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, Regexp, tt.pattern)
			_, isBacktrack := p.m.(*backtrackMatcher)
			if isBacktrack != tt.backtrack {
				t.Fatalf("backtracking engine = %v, want %v", isBacktrack, tt.backtrack)
			}
		})
	}
}

// TestCatastrophicBacktracking is SECURITY_CASES B-14.
func TestCatastrophicBacktracking(t *testing.T) {
	input := "https://api.test/search/" + strings.Repeat("a", 40) + "!"
	t.Run("RE2 answers at once", func(t *testing.T) {
		// The pattern must go to RE2, which runs in time linear in the
		// input; a backtracking engine would take 2^40 steps here, so the
		// Match below would not return before the test binary's timeout.
		// No wall-clock bound is asserted: the machine may be busy.
		p := mustCompile(t, Regexp, "https://api.test/search/<(a+)+b>")
		if _, isBacktrack := p.m.(*backtrackMatcher); isBacktrack {
			t.Fatal("nested quantifier compiled to the backtracking engine, want RE2")
		}
		_, ok, err := p.Match(input)
		if ok || err != nil {
			t.Fatalf("Match = %v, %v, want no match", ok, err)
		}
	})
	t.Run("regexp2 times out as an error", func(t *testing.T) {
		p := mustCompile(t, Regexp, "https://api.test/search/<(?!z)(a+)+b>")
		caps, ok, err := p.Match(input)
		if ok || caps != nil || !errors.Is(err, ErrMatchLimit) {
			t.Fatalf("Match = %q, %v, %v, want ErrMatchLimit", caps, ok, err)
		}
		if strings.Contains(err.Error(), "aaaa") {
			t.Fatalf("error %q repeats the request", err)
		}
		// The wildcard entry is tried after the timed-out one and must not
		// hide its error.
		ix := NewIndex([]Entry{
			{Pattern: p, Methods: []string{"GET"}},
			{Pattern: mustCompile(t, Glob, "<*>://api.test/<**>"), Methods: []string{"GET"}},
		})
		hits, err := ix.Lookup("GET", "https", "api.test", "/search/"+strings.Repeat("a", 40)+"!", make([]Hit, 0, 1))
		if len(hits) != 0 || !errors.Is(err, ErrMatchLimit) {
			t.Fatalf("Lookup = %v, %v, want ErrMatchLimit", hits, err)
		}
	})
}

// TestCapturesFollowOathkeeperGroupOrder: regexp2 numbers named groups
// after all unnamed ones, so a Go-compiled pattern reorders its captures.
func TestCapturesFollowOathkeeperGroupOrder(t *testing.T) {
	p := mustCompile(t, Regexp, "https://h/<(?P<id>[0-9]+)>/<([a-z]+)>")
	caps, ok, err := p.Match("https://h/42/abc")
	if !ok || err != nil {
		t.Fatalf("Match = %v, %v", ok, err)
	}
	checkCaptures(t, caps, []string{"42", "abc", "abc", "42"})
}

// oathkeeperMatch is the reference: Oathkeeper's engines over the whole
// pattern, written independently of the package's compile path. regexp
// builds ladon's expression for regexp2; glob builds compileGlob's for
// gobwas.
func oathkeeperMatch(t *testing.T, strategy Strategy, pattern, s string) ([]string, bool) {
	t.Helper()
	idx, err := delimiterIndices(pattern)
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	end := 0
	for i := 0; i < len(idx); i += 2 {
		lit, part := pattern[end:idx[i]], pattern[idx[i]+1:idx[i+1]-1]
		if strategy == Glob {
			fmt.Fprintf(&src, "%s%s", glob.QuoteMeta(lit), part)
		} else {
			fmt.Fprintf(&src, "%s(%s)", regexp.QuoteMeta(lit), part)
		}
		end = idx[i+1]
	}
	if strategy == Glob {
		src.WriteString(glob.QuoteMeta(pattern[end:]))
		return []string{}, glob.MustCompile(src.String(), '.', '/').Match(s)
	}
	re := regexp2.MustCompile("^"+src.String()+regexp.QuoteMeta(pattern[end:])+"$", regexp2.RE2)
	m, err := re.FindStringMatch(s)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil {
		return nil, false
	}
	caps := []string{}
	for _, g := range m.Groups()[1:] {
		caps = append(caps, g.String())
	}
	return caps, true
}

// TestPatternAgreesWithOathkeeperEngines compares Pattern.Match, which
// prefers RE2 and drops the literal authority, with Oathkeeper's engines
// on the whole pattern, over generated patterns and inputs.
func TestPatternAgreesWithOathkeeperEngines(t *testing.T) {
	parts := map[Strategy][]string{
		Regexp: {
			".*", "[0-9]+", "[[:digit:]]*", "(?!admin).*", "foo|bar", "(/.*)?", `[a-z]+\.b`,
			`\w+`, "(?P<id>[0-9]+)", "(a)(?P<n>b)?(c)?", `\d{1,3}`, "(?i)AB", "[^/]+", ".+?",
			"(a+)+", `\bx`, "(?:a|ab)(b?)", "(?<=a>?)b", "", "a*?", `(?P<x>a)|(?P<y>b)`,
		},
		Glob: {"*", "**", "?", "[0-9]*", "{foo*,bar*}", "[!a]", "{,????*}", "{a,b}.b", "", "*a", "a**"},
	}
	prefixes := []string{"http://h/", "http://h/api/", "http://h", "http://h/a", "urn:foo:", "", "http://"}
	alphabet := []string{"a", "b", "c", "1", "42", "/", ".", "admin", "x", "-", "foo", "bar", "AB", "h", "http://", "api"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for _, strategy := range []Strategy{Regexp, Glob} {
		matched := 0
		for n := range 400 {
			ps := parts[strategy]
			pattern := prefixes[rng.IntN(len(prefixes))] + "<" + ps[rng.IntN(len(ps))] + ">"
			if rng.IntN(2) == 0 {
				pattern += word() + "<" + ps[rng.IntN(len(ps))] + ">"
			}
			pattern += word()
			p, err := Compile(strategy, pattern)
			if err != nil {
				t.Fatalf("Compile(%q): %v", pattern, err)
			}
			t.Run(fmt.Sprintf("%s/%03d %s", strategy, n, pattern), func(t *testing.T) {
				tmpl, err := parseTemplate(pattern)
				if err != nil {
					t.Fatal(err)
				}
				for range 40 {
					// Mostly the pattern's own literals around random
					// fillers, so that a fair share of inputs match.
					s := word()
					if rng.IntN(4) != 0 {
						s = tmpl.lits[0]
						for i := range tmpl.vars {
							s += word() + tmpl.lits[i+1]
						}
					}
					// The engines see the canonical pattern: the literal
					// authority lower-cased (TestCanonicalPatternHost).
					wantCaps, want := oathkeeperMatch(t, strategy, p.Canonical(), s)
					caps, ok, err := p.Match(s)
					if err != nil || ok != want || !slices.Equal(caps, wantCaps) {
						t.Fatalf("Match(%q) = %q, %v, %v; Oathkeeper gives %q, %v", s, caps, ok, err, wantCaps, want)
					}
					if ok {
						matched++
					}
				}
			})
		}
		// Guard against a generator that only produces misses.
		if matched < 400*40/10 {
			t.Errorf("%s: only %d of %d inputs matched", strategy, matched, 400*40)
		}
	}
}
