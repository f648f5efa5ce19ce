package match

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestPartsMatcherChosen pins which regexp patterns run without a regexp
// engine: finite sets anywhere, a character-class run where it cannot
// backtrack (last, or before a literal its class cannot match).
func TestPartsMatcherChosen(t *testing.T) {
	tests := []struct {
		pattern string
		want    bool
	}{
		{"<http|https>://demo/svc-00001/<.*>", true},
		{"<http|https>://host/svc-00001/<[0-9]+>", true},
		{"https://api.test/users/<[0-9]+>/posts/<[^/]+>", true},
		{"https://api.test/<.*>", true},
		{"https://api.test/<(?s).*>", true},
		{"https://api.test/<a*>", true},
		{"https://api.test/<v[12]|latest>/x", true},
		{"https://api.test/<.*>/x", false},           // '.' matches '/': the run could end earlier
		{"https://api.test/<[0-9]+>1", false},        // the literal starts inside the class
		{"https://api.test/<[0-9]+><[a-z]+>", false}, // a run before a part
		{"https://api.test/<(a)|b>", false},          // a group inside
		{"https://api.test/<(?i)admin>", false},      // case folding
		{"https://api.test/<[0-9]{3}>", false},
		{"https://api.test/<^x>", false},
		{"https://api.test/<(?!admin).*>", false},
		{"https://api.test/\xff<.*>", false}, // RE2 refuses invalid UTF-8
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p := mustCompile(t, Regexp, tt.pattern)
			if _, got := p.m.(*partsMatcher); got != tt.want {
				t.Fatalf("partsMatcher = %v, want %v (engine %T)", got, tt.want, p.m)
			}
		})
	}
}

var (
	// partSamples are "<...>" parts the partsMatcher takes, or refuses.
	partSamples = []string{"http|https", "https?", "a|ab|", "(?:x|)y?", "v[12]", "[ab]", "", "ab??", "é|e", `\x00|a`,
		".*", ".+", "(?s).*", "(?s).+", "[0-9]+", `\d+`, "[^/]+", "[^/]*", "[a-z]*", "[^a]+", "[à-ÿ]+", "a*", "[^é]*", `\pL+`,
		".*?", "[0-9]+?", "x*", "(a)", "[0-9]{2}"}
	partLits = []string{"", "/", "://h/", "/x/", "a", "1", "é", ":", "x", "\n"}
	// inputRunes build strings to match: every class above and its
	// complement, invalid UTF-8 and '\n'.
	inputRunes = []string{"a", "b", "1", "2", "/", ":", "\n", "é", "\xff", "\xe9", "s", "h", "t", "p", "x", "y", "\x00", "ü", "Z"}
)

// TestPartsMatcherAgreesWithRE2 compiles random patterns both ways and
// matches them against strings built from their own literals and parts:
// where the partsMatcher takes a pattern, its answer and captures are
// RE2's.
func TestPartsMatcherAgreesWithRE2(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	// Where alternatives overlap, only the engine's order of preference
	// decides the captures.
	fixed := []string{"<ab??><.*>", "<a|ab><b?>", "<ab?><b*>", "<|a><a*>", "<a|><a|>", "<(?:a|ab)(?:c|bc)><.*>", "<x??y??><.*>", "<(?:|a)(?:b|)><.*>"}
	taken, matched := 0, 0
	for n := range 3000 + len(fixed) {
		var t0 template
		if n < len(fixed) {
			t0, _ = parseTemplate(fixed[n])
		} else {
			t0.lits = append(t0.lits, pick(partLits))
			for range 1 + rng.IntN(4) {
				t0.vars = append(t0.vars, pick(partSamples))
				t0.lits = append(t0.lits, pick(partLits))
			}
		}
		pattern := t0.String()
		pm := compileParts(t0, pattern)
		if pm == nil {
			continue
		}
		taken++
		re := compileRE2(t0)
		if re == nil {
			t.Fatalf("%q: the partsMatcher takes a pattern RE2 refuses", pattern)
		}
		for range 30 {
			var b strings.Builder
			b.WriteString(t0.lits[0])
			for i, v := range t0.vars {
				alts := analysePart(Regexp, v).alts
				if alts != nil && rng.IntN(4) > 0 {
					b.WriteString(pick(alts))
				} else {
					for range rng.IntN(4) {
						b.WriteString(pick(inputRunes))
					}
				}
				b.WriteString(t0.lits[i+1])
			}
			s := []byte(b.String())
			if len(s) > 0 && rng.IntN(4) == 0 { // one byte off
				s[rng.IntN(len(s))] = pick(inputRunes)[0]
			}
			gotCaps, gotOK, _ := pm.match(string(s))
			wantCaps, wantOK, _ := re.match(string(s))
			if gotOK != wantOK || !slices.Equal(gotCaps, wantCaps) {
				t.Fatalf("%q.Match(%q) = %q, %v; RE2 gives %q, %v", pattern, s, gotCaps, gotOK, wantCaps, wantOK)
			}
			if wantOK {
				matched++
			}
		}
	}
	t.Logf("%d patterns taken, %d matches", taken, matched)
	if taken < 500 || matched < 2000 {
		t.Fatalf("only %d patterns taken, %d matches: the generator misses the partsMatcher", taken, matched)
	}
}

// FuzzPartsMatcher compares the partsMatcher with RE2 on any pattern it
// takes: same answer, same captures.
func FuzzPartsMatcher(f *testing.F) {
	for _, s := range [][2]string{
		{"<http|https>://demo/svc/<.*>", "https://demo/svc/a/b"},
		{"<https?>://h/<[0-9]+>", "http://h/42"},
		{"/<[^/]+>/x/<a|ab|>", "/é\xff/x/ab"},
		{"<a|ab><[b]*>c", "abbbc"},
		{"<(?s).*>", "a\nb"},
		{"<.*>", "a\nb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		tpl, err := parseTemplate(pattern)
		if err != nil {
			return
		}
		pm := compileParts(tpl, pattern)
		if pm == nil {
			return
		}
		re := compileRE2(tpl)
		if re == nil {
			t.Fatalf("%q: the partsMatcher takes a pattern RE2 refuses", pattern)
		}
		gotCaps, gotOK, _ := pm.match(s)
		wantCaps, wantOK, _ := re.match(s)
		if gotOK != wantOK || !slices.Equal(gotCaps, wantCaps) {
			t.Fatalf("%q.Match(%q) = %q, %v; RE2 gives %q, %v", pattern, s, gotCaps, gotOK, wantCaps, wantOK)
		}
	})
}

// TestLookupPartsAllocatesOnlyCaptures: a partsMatcher hit costs one
// allocation, its captures, which are cut from the request's strings.
func TestLookupPartsAllocatesOnlyCaptures(t *testing.T) {
	ix := NewIndex(scaleEntries(t, 0, 100))
	dst := make([]Hit, 0, 2)
	n := testing.AllocsPerRun(1000, func() {
		hits, err := ix.Lookup("GET", "https", "demo", "/svc-00050/a/b", dst[:0])
		if err != nil || len(hits) != 1 || len(hits[0].Captures) != 2 || hits[0].Captures[0] != "https" || hits[0].Captures[1] != "a/b" {
			t.Fatalf("Lookup = %v, %v", hits, err)
		}
	})
	if n != 1 {
		t.Fatalf("Lookup allocated %v times, want 1", n)
	}
}
