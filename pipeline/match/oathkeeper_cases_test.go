package match

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// matchingCases mirrors testdata/matching_cases.yaml, a copy of
// /work/shared/fixtures/oathkeeper/derived/matching_cases.yaml. It is
// decoded strictly, so a field the test does not know fails the test
// instead of being ignored.
type matchingCases struct {
	RuleIsMatching     []urlCase      `json:"rule_is_matching"`
	PathNormalisation  []urlCase      `json:"path_normalisation"`
	GlobEngine         []rawCase      `json:"glob_engine"`
	GlobGotchas        []urlCase      `json:"glob_gotchas"`
	RegexpFindSubmatch []rawCase      `json:"regexp_find_submatch"`
	Delimiters         []delimiterRow `json:"delimiters"`
	RepositoryMatch    repositoryCase `json:"repository_match"`
}

// urlCase is a rule pattern against a request URL.
type urlCase struct {
	Strategy Strategy  `json:"strategy"`
	Pattern  string    `json:"pattern"`
	Methods  []string  `json:"methods"`
	Method   string    `json:"method"`
	URL      string    `json:"url"`
	Match    bool      `json:"match"`
	Groups   *[]string `json:"groups"`
	Source   string    `json:"source"`
	Note     string    `json:"note"`
}

// rawCase is a pattern against a raw match string, without URL handling.
type rawCase struct {
	Pattern string    `json:"pattern"`
	Input   string    `json:"input"`
	Match   bool      `json:"match"`
	Groups  *[]string `json:"groups"`
	Error   bool      `json:"error"`
	Note    string    `json:"note"`
}

type delimiterRow struct {
	Input   string `json:"input"`
	Error   string `json:"error"`
	Indices []int  `json:"indices"`
}

type repositoryCase struct {
	RulesRegexp      []repoRule    `json:"rules_regexp"`
	RulesGlob        []repoRule    `json:"rules_glob"`
	Cases            []repoRequest `json:"cases"`
	AfterRemovingFoo []repoRequest `json:"after_removing_foo1"`
}

type repoRule struct {
	ID      string   `json:"id"`
	URL     string   `json:"url"`
	Methods []string `json:"methods"`
	RPC     *struct {
		Authority  string `json:"authority"`
		FullMethod string `json:"full_method"`
	} `json:"rpc"`
}

type repoRequest struct {
	Method   string  `json:"method"`
	URL      *string `json:"url"`
	Protocol string  `json:"protocol"`
	Expect   string  `json:"expect"`
	Note     string  `json:"note"`
}

func loadMatchingCases(t *testing.T) matchingCases {
	t.Helper()
	b, err := os.ReadFile("testdata/matching_cases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c matchingCases
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatalf("decode matching_cases.yaml: %v", err)
	}
	return c
}

// splitURL splits an absolute URL the way Envoy presents a request: scheme,
// host (with port) and the raw path, whose query the caller splits off.
func splitURL(t *testing.T, u string) (scheme, host, rawPath string) {
	t.Helper()
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		t.Fatalf("url %q has no scheme", u)
	}
	i := strings.IndexAny(rest, "/?")
	if i < 0 {
		return scheme, rest, ""
	}
	rawPath, _, _ = strings.Cut(rest[i:], "?")
	return scheme, rest[:i], rawPath
}

func mustCompile(t testing.TB, s Strategy, pattern string) *Pattern {
	t.Helper()
	p, err := Compile(s, pattern)
	if err != nil {
		t.Fatalf("Compile(%q, %q): %v", s, pattern, err)
	}
	return p
}

// runURLCase runs one request through NormalizePath, MatchString and an
// Index holding the single rule, and checks Pattern.Match agrees.
func runURLCase(t *testing.T, strategy Strategy, c urlCase) {
	t.Helper()
	p := mustCompile(t, strategy, c.Pattern)
	scheme, host, rawPath := splitURL(t, c.URL)
	cleaned, err := NormalizePath(rawPath)
	if rawPath == "/admin%2Fsecret" {
		// Oathkeeper's proxy mode lets Go decode %2F into a '/' and
		// matches /admin/secret. Portcullis rejects encoded slashes
		// (SECURITY_CASES B-04), so this case is a NormalizePath error.
		if err == nil {
			t.Fatalf("NormalizePath(%q) = %q, want an error for %%2F", rawPath, cleaned)
		}
		return
	}
	if err != nil {
		t.Fatalf("NormalizePath(%q): %v", rawPath, err)
	}
	if c.Note == "host case-sensitive" {
		// Oathkeeper compares the host byte for byte, so a rule for
		// http://H/x misses http://h/x. Portcullis matches hosts in
		// canonical, lower-case form, as Envoy routes them (issue 8).
		c.Match = true
	}
	// Rows without methods test URL matching only; give them the
	// request's method, since an empty list never matches.
	methods := c.Methods
	if methods == nil {
		methods = []string{c.Method}
	}
	ix := NewIndex([]Entry{{Pattern: p, Methods: methods}})
	hits, err := ix.Lookup(c.Method, scheme, host, cleaned, nil)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if got := len(hits) == 1; got != c.Match {
		t.Fatalf("Lookup(%s %s) matched = %v, want %v (%s)", c.Method, MatchString(scheme, host, cleaned), got, c.Match, c.Note)
	}
	caps, ok, err := p.Match(MatchString(scheme, host, cleaned))
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	if methodOK := methodAllowed(methods, c.Method); (ok && methodOK) != c.Match {
		t.Fatalf("Match = %v (method allowed %v), want %v", ok, methodOK, c.Match)
	}
	if c.Match && c.Groups != nil {
		checkCaptures(t, hits[0].Captures, *c.Groups)
		checkCaptures(t, caps, *c.Groups)
	}
	if c.Match && strategy == Glob {
		checkCaptures(t, hits[0].Captures, []string{})
	}
}

func checkCaptures(t *testing.T, got, want []string) {
	t.Helper()
	if got == nil || !slices.Equal(got, want) {
		t.Fatalf("captures = %q, want %q", got, want)
	}
}

func TestOathkeeperURLCases(t *testing.T) {
	c := loadMatchingCases(t)
	sections := []struct {
		name  string
		rows  []urlCase
		glob  bool // rows without a strategy field are glob rows
		count int
	}{
		{"rule_is_matching", c.RuleIsMatching, false, 15},
		{"path_normalisation", c.PathNormalisation, false, 15},
		{"glob_gotchas", c.GlobGotchas, true, 9},
	}
	for _, s := range sections {
		if len(s.rows) != s.count {
			t.Errorf("%s has %d rows, want %d: update the test with the fixture", s.name, len(s.rows), s.count)
		}
		for i, row := range s.rows {
			strategy := row.Strategy
			if s.glob {
				strategy = Glob
			}
			name := fmt.Sprintf("%s/%02d %s %s %s", s.name, i, strategy, row.Pattern, row.URL)
			t.Run(name, func(t *testing.T) { runURLCase(t, strategy, row) })
		}
	}
}

func TestOathkeeperGlobEngineCases(t *testing.T) {
	rows := loadMatchingCases(t).GlobEngine
	if len(rows) != 18 {
		t.Errorf("glob_engine has %d rows, want 18", len(rows))
	}
	for i, c := range rows {
		t.Run(fmt.Sprintf("%02d %s %s", i, c.Pattern, c.Input), func(t *testing.T) {
			caps, ok, err := mustCompile(t, Glob, c.Pattern).Match(c.Input)
			if err != nil || ok != c.Match {
				t.Fatalf("Match(%q) = %v, %v, want %v", c.Input, ok, err, c.Match)
			}
			if ok {
				checkCaptures(t, caps, []string{})
			}
		})
	}
}

func TestOathkeeperFindSubmatchCases(t *testing.T) {
	rows := loadMatchingCases(t).RegexpFindSubmatch
	if len(rows) != 4 {
		t.Errorf("regexp_find_submatch has %d rows, want 4", len(rows))
	}
	for i, c := range rows {
		t.Run(fmt.Sprintf("%02d %s %s", i, c.Pattern, c.Input), func(t *testing.T) {
			caps, ok, err := mustCompile(t, Regexp, c.Pattern).Match(c.Input)
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			// Oathkeeper's FindStringSubmatch reports "no match" as an
			// error; here it is ok == false, and err is kept for timeouts.
			if c.Error {
				if ok {
					t.Fatalf("Match(%q) = %q, want no match", c.Input, caps)
				}
				return
			}
			if !ok {
				t.Fatalf("Match(%q): no match", c.Input)
			}
			checkCaptures(t, caps, *c.Groups)
		})
	}
}

func TestOathkeeperDelimiterCases(t *testing.T) {
	rows := loadMatchingCases(t).Delimiters
	if len(rows) != 11 {
		t.Errorf("delimiters has %d rows, want 11", len(rows))
	}
	for i, c := range rows {
		t.Run(fmt.Sprintf("%02d %s", i, c.Input), func(t *testing.T) {
			idx, err := delimiterIndices(c.Input)
			if c.Error != "" {
				if err == nil {
					t.Fatalf("delimiterIndices(%q) = %v, want an error", c.Input, idx)
				}
				for _, s := range []Strategy{Regexp, Glob} {
					_, err := Compile(s, c.Input)
					if err == nil || !strings.Contains(err.Error(), c.Error) {
						t.Fatalf("Compile(%s, %q) error = %v, want it to mention %q", s, c.Input, err, c.Error)
					}
				}
				return
			}
			if err != nil || !slices.Equal(idx, c.Indices) {
				t.Fatalf("delimiterIndices(%q) = %v, %v, want %v", c.Input, idx, err, c.Indices)
			}
		})
	}
}

// TestOathkeeperRepositoryCases replays rule/matcher_test.go. Oathkeeper
// keeps HTTP and RPC rules apart by a protocol check; the match package only
// knows URLs, so the test keeps one Index per protocol, as a caller that
// supported both would. An RPC rule is matched as
// rpc://{authority}/{full_method} with methods [POST]. Oathkeeper answers
// an error unless exactly one rule matches.
func TestOathkeeperRepositoryCases(t *testing.T) {
	rc := loadMatchingCases(t).RepositoryMatch
	sets := []struct {
		strategy Strategy
		rules    []repoRule
	}{{Regexp, rc.RulesRegexp}, {Glob, rc.RulesGlob}}
	for _, set := range sets {
		build := func(t *testing.T, skip string) (httpIx, rpcIx *Index, httpIDs, rpcIDs []string) {
			t.Helper()
			var httpEntries, rpcEntries []Entry
			for _, r := range set.rules {
				switch {
				case r.ID == skip:
				case r.RPC != nil:
					p := mustCompile(t, set.strategy, "rpc://"+r.RPC.Authority+"/"+r.RPC.FullMethod)
					rpcEntries = append(rpcEntries, Entry{Pattern: p, Methods: []string{"POST"}})
					rpcIDs = append(rpcIDs, r.ID)
				default:
					httpEntries = append(httpEntries, Entry{Pattern: mustCompile(t, set.strategy, r.URL), Methods: r.Methods})
					httpIDs = append(httpIDs, r.ID)
				}
			}
			return NewIndex(httpEntries), NewIndex(rpcEntries), httpIDs, rpcIDs
		}
		groups := []struct {
			name  string
			skip  string
			cases []repoRequest
		}{{"cases", "", rc.Cases}, {"after_removing_foo1", "foo1", rc.AfterRemovingFoo}}
		for _, g := range groups {
			for i, c := range g.cases {
				url := "<nil>"
				if c.URL != nil {
					url = *c.URL
				}
				t.Run(fmt.Sprintf("%s/%s/%02d %s %s %s", set.strategy, g.name, i, c.Method, url, c.Protocol), func(t *testing.T) {
					httpIx, rpcIx, httpIDs, rpcIDs := build(t, g.skip)
					ix, ids := httpIx, httpIDs
					if c.Protocol == "rpc" {
						ix, ids = rpcIx, rpcIDs
					}
					// A nil URL cannot reach Lookup; the nearest request is
					// one with every part empty, which must match nothing.
					var scheme, host, path string
					if c.URL != nil {
						var raw string
						scheme, host, raw = splitURL(t, *c.URL)
						var err error
						if path, err = NormalizePath(raw); err != nil {
							t.Fatal(err)
						}
					}
					hits, err := ix.Lookup(c.Method, scheme, host, path, nil)
					if err != nil {
						t.Fatal(err)
					}
					got := "error"
					if len(hits) == 1 {
						got = ids[hits[0].Index]
					}
					if got != c.Expect {
						t.Fatalf("got %s (hits %v), want %s", got, hits, c.Expect)
					}
				})
			}
		}
	}
}
