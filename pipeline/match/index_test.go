package match

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// linearScan is the reference Lookup: Oathkeeper's loop over every rule.
// limited is true when some regexp2 match ran out of time, which depends
// on the machine's load: the caller skips the comparison then.
func linearScan(entries []Entry, method, scheme, host, path string) (hits []Hit, limited bool) {
	s := MatchString(scheme, host, path)
	for i, e := range entries {
		if e.Pattern == nil || !methodAllowed(e.Methods, method) {
			continue
		}
		caps, ok, err := e.Pattern.Match(s)
		limited = limited || err != nil
		if ok {
			hits = append(hits, Hit{Index: i, Captures: caps})
		}
	}
	return hits, limited
}

// linearScanAnyMethod is the reference LookupAnyMethod: every entry that
// allows some method and whose pattern matches.
func linearScanAnyMethod(entries []Entry, scheme, host, path string) (hits []Hit, limited bool) {
	s := MatchString(scheme, host, path)
	for i, e := range entries {
		if e.Pattern == nil || len(e.Methods) == 0 {
			continue
		}
		caps, ok, err := e.Pattern.Match(s)
		limited = limited || err != nil
		if ok {
			hits = append(hits, Hit{Index: i, Captures: caps})
		}
	}
	return hits, limited
}

// linearCaseVariants is the reference CaseVariants: every entry but skip
// whose literal path prefix the path spells in other ASCII case, and that
// matches the path recased to it.
func linearCaseVariants(entries []Entry, method, scheme, host, path string, skip int) (hits []Hit, limited bool) {
	for i, e := range entries {
		if i == skip || e.Pattern == nil || !methodAllowed(e.Methods, method) {
			continue
		}
		lit := e.Pattern.pathLit()
		if len(path) < len(lit) || path[:len(lit)] == lit || !equalFoldASCII(path[:len(lit)], lit) {
			continue
		}
		caps, ok, err := e.Pattern.Match(MatchString(scheme, host, lit+path[len(lit):]))
		limited = limited || err != nil
		if ok {
			hits = append(hits, Hit{Index: i, Captures: caps})
		}
	}
	return hits, limited
}

// indexKeysOrNil is indexKeys for a possibly nil pattern.
func (p *Pattern) indexKeysOrNil() ([]indexKey, bool) {
	if p == nil {
		return nil, false
	}
	return p.indexKeys()
}

// timedOut reports whether err is ErrMatchLimit: whether a regexp2 match
// runs out of time depends on how loaded the machine is, not on the
// Index, so the differential tests skip such a request. Other errors,
// and hits left next to the error, fail the test.
func timedOut(t *testing.T, err error, hits []Hit) bool {
	t.Helper()
	if err == nil {
		return false
	}
	if !errors.Is(err, ErrMatchLimit) || len(hits) != 0 {
		t.Fatalf("hits %v with error %v; an error must be ErrMatchLimit without hits", hits, err)
	}
	return true
}

func hitsEqual(a, b []Hit) bool {
	return slices.EqualFunc(a, b, func(x, y Hit) bool {
		return x.Index == y.Index && slices.Equal(x.Captures, y.Captures) && (x.Captures == nil) == (y.Captures == nil)
	})
}

// ruleGen generates rules and requests over a small vocabulary, so that
// prefixes collide, buckets overlap and many requests match something.
type ruleGen struct {
	rng *rand.Rand
}

var (
	genSchemes = []string{"http", "https"}
	// genOddSchemes are schemes no front door sends, which some
	// "<...>" schemes below still match.
	genOddSchemes = []string{"HTTP", "ht:tp", "a/b", "", "ftp", "https://a.test"}
	genHosts      = []string{"a.test", "b.test", "a.test:8080", "xa.test"}
	genSegs       = []string{"api", "v1", "users", "admin", "public", "x", "a.b", "1234", "ab", "a", "Api"}
	genMethods    = []string{"GET", "get", "POST", "DELETE"}
	genRegexp     = []string{".*", "[0-9]+", "(/.*)?", "[^/]+", "(?!admin).*", "(?P<n>[a-z]+)(/.*)?", "[[:digit:]]*", "", `.+\.b`, "foo|a",
		".+", "[a-z]*", `\d+`, "(?s).*", "[^/]*", "a|ab|", "(?:x|)y?", "v[12]", "[^a]+"}
	genGlob = []string{"*", "**", "?", "[0-9]*", "{a,ab}*", "", "*?", "{api,v1}", "users"}
	// genSchemeParts are "<...>" schemes: finite sets (some with ':',
	// '/' or upper case), and expressions that may or may not swallow
	// the "://".
	genSchemeParts = []string{"http|https", "https?", "HTTP|https", "(?:ht)tps?", "https|http", "http|http",
		"ht:tp|http", "a/b|https", "https://a.test|http", ".*", ".+", "[a-z]+", "[^:]+", "[^/]*", "(?i)https", "h.*p", ""}
	genGlobSchemeParts = []string{"{http,https}", "{https,http}", "http", "{HTTP,https}", "{ht:tp,http}", "{a/b,https}", "*", "{http,https}*"}
	// genHostParts are "<...>" hosts: finite sets, and others.
	genHostParts = []string{"a|b", "a|xa", "a.test:8080|b", "[ab]", ".*", "a|a.test/a"}
)

func (g ruleGen) pick(s []string) string { return s[g.rng.IntN(len(s))] }

func (g ruleGen) path(maxSegs int) string {
	var b strings.Builder
	for range g.rng.IntN(maxSegs + 1) {
		b.WriteString("/" + g.pick(genSegs))
	}
	return b.String()
}

func (g ruleGen) entry() Entry {
	strategy, vars := Regexp, genRegexp
	if g.rng.IntN(3) == 0 {
		strategy, vars = Glob, genGlob
	}
	v := func() string { return "<" + g.pick(vars) + ">" }
	scheme, host := g.pick(genSchemes), g.pick(genHosts)
	authority := scheme + "://" + host
	switch g.rng.IntN(12) {
	case 0, 1:
		if strategy == Glob {
			authority = "<" + g.pick(genGlobSchemeParts) + ">://" + host
		} else {
			authority = "<" + g.pick(genSchemeParts) + ">://" + host
		}
	case 3:
		authority = scheme + "://" + v() + ".test"
	case 4:
		authority = scheme + "://a.test" + v()
	case 5:
		if strategy == Regexp {
			authority = "<" + g.pick(genSchemeParts) + ">://<" + g.pick(genHostParts) + ">.test"
		}
	}
	pattern := authority + g.path(3)
	switch g.rng.IntN(6) {
	case 0: // fully literal
	case 1: // partial last segment, then a part
		pattern += "/" + g.pick(genSegs)[:1] + v()
	case 2: // part in the middle
		pattern += "/" + v() + g.path(1)
	default:
		pattern += "/" + v()
	}
	methods := make([]string, 0, 2)
	for range g.rng.IntN(3) {
		methods = append(methods, g.pick(genMethods))
	}
	p, err := Compile(strategy, pattern)
	if err != nil {
		panic(fmt.Sprintf("generated pattern %q: %v", pattern, err))
	}
	return Entry{Pattern: p, Methods: methods}
}

// request returns a random request; half of them start with the literal
// prefix of one of entries, so that buckets and tries are really hit.
func (g ruleGen) request(entries []Entry) (method, scheme, host, path string) {
	method, scheme, host, path = g.pick(genMethods), g.pick(genSchemes), g.pick(genHosts), g.path(4)
	if g.rng.IntN(10) == 0 {
		scheme = g.pick(genOddSchemes)
	}
	e := entries[g.rng.IntN(len(entries))]
	if keys, ok := e.Pattern.indexKeysOrNil(); ok && g.rng.IntN(3) > 0 {
		p, k := e.Pattern, keys[g.rng.IntN(len(keys))]
		host = k.host
		if p.anchored {
			scheme = p.scheme()
		}
		if len(e.Methods) > 0 {
			method = g.pick(e.Methods)
		}
		path = k.pathLit + g.pick(append(genSegs, "")) + g.path(2)
	}
	// Now and then a request no sane front door sends: Lookup must still
	// agree with the linear scan.
	switch g.rng.IntN(20) {
	case 0:
		host += "/api"
	case 1:
		scheme = "ht:tp"
	case 2:
		path = strings.TrimPrefix(path, "/")
	case 3:
		host = ""
	case 4:
		path += "\n"
	case 5:
		path += "/\xff\u00e9"
	case 6:
		path = strings.ToUpper(path)
	}
	return method, scheme, host, path
}

// TestIndexAgreesWithLinearScan is the Index's contract: exactly the hits
// of Oathkeeper's linear scan, captures included, in entry order; and for
// LookupAnyMethod the same with methods ignored.
func TestIndexAgreesWithLinearScan(t *testing.T) {
	for seed := range uint64(14) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			g := ruleGen{rng: rand.New(rand.NewPCG(seed, 7))}
			entries := make([]Entry, 50+g.rng.IntN(300))
			for i := range entries {
				entries[i] = g.entry()
			}
			entries = append(entries, Entry{Pattern: nil, Methods: []string{"GET"}})
			ix := NewIndex(entries)
			matched := 0
			for range 2000 {
				method, scheme, host, path := g.request(entries)
				want, limited := linearScan(entries, method, scheme, host, path)
				got, err := ix.Lookup(method, scheme, host, path, nil)
				if timedOut(t, err, got) || limited {
					continue
				}
				if !hitsEqual(got, want) {
					t.Fatalf("Lookup(%s %s) = %v, linear scan gives %v", method, MatchString(scheme, host, path), got, want)
				}
				if len(want) > 0 {
					matched++
				}
				wantAny, limited := linearScanAnyMethod(entries, scheme, host, path)
				gotAny, err := ix.LookupAnyMethod(scheme, host, path, nil)
				if timedOut(t, err, gotAny) || limited {
					continue
				}
				if !hitsEqual(gotAny, wantAny) {
					t.Fatalf("LookupAnyMethod(%s) = %v, linear scan gives %v", MatchString(scheme, host, path), gotAny, wantAny)
				}
				if plainAuthority(scheme, host, path) {
					skip := -1
					if len(want) > 0 {
						skip = want[0].Index
					}
					wantCase, limited := linearCaseVariants(entries, method, scheme, host, path, skip)
					gotCase, err := ix.CaseVariants(method, scheme, host, path, skip, nil)
					if timedOut(t, err, gotCase) || limited {
						continue
					}
					if !hitsEqual(gotCase, wantCase) {
						t.Fatalf("CaseVariants(%s %s) = %v, linear scan gives %v", method, MatchString(scheme, host, path), gotCase, wantCase)
					}
				}
			}
			if matched < 200 {
				t.Fatalf("only %d of 2000 requests matched anything; the generator is too sparse", matched)
			}
		})
	}
}

func TestLookupAppendsToDst(t *testing.T) {
	ix := NewIndex([]Entry{
		{Pattern: mustCompile(t, Glob, "https://api.test/<**>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "<https?>://api.test/<.*>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/x"), Methods: []string{"get"}},
	})
	dst := []Hit{{Index: 99}}
	got, err := ix.Lookup("GET", "https", "api.test", "/x", dst)
	if err != nil {
		t.Fatal(err)
	}
	want := []Hit{{Index: 99}, {Index: 0, Captures: []string{}}, {Index: 1, Captures: []string{"https", "x"}}, {Index: 2, Captures: []string{}}}
	if !hitsEqual(got[1:], want[1:]) || got[0].Index != 99 {
		t.Fatalf("Lookup = %v, want %v (all hits, in entry order, after dst)", got, want)
	}
}

func TestLookupMethods(t *testing.T) {
	tests := []struct {
		name    string
		methods []string
		method  string
		want    bool
		// wantAny: LookupAnyMethod finds the URL whatever the method.
		wantAny bool
	}{
		{name: "same case", methods: []string{"GET"}, method: "GET", want: true, wantAny: true},
		{name: "case-insensitive", methods: []string{"get"}, method: "GET", want: true, wantAny: true},
		{name: "custom method", methods: []string{"CUSTOM"}, method: "custom", want: true, wantAny: true},
		{name: "not listed", methods: []string{"GET", "POST"}, method: "DELETE", wantAny: true},
		{name: "empty list never matches", methods: []string{}, method: "GET"},
		{name: "nil list never matches", methods: nil, method: "GET"},
	}
	p := mustCompile(t, Regexp, "https://api.test/x")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := NewIndex([]Entry{{Pattern: p, Methods: tt.methods}})
			hits, err := ix.Lookup(tt.method, "https", "api.test", "/x", nil)
			if err != nil || (len(hits) == 1) != tt.want {
				t.Fatalf("Lookup = %v, %v, want match %v", hits, err, tt.want)
			}
			hits, err = ix.LookupAnyMethod("https", "api.test", "/x", nil)
			if err != nil || (len(hits) == 1) != tt.wantAny {
				t.Fatalf("LookupAnyMethod = %v, %v, want match %v", hits, err, tt.wantAny)
			}
		})
	}
}

// lookupRaw runs a raw Envoy path through NormalizePath and the Index, as
// the caller does. A NormalizePath error is a DENY-400, reported as "400".
func lookupRaw(t *testing.T, ix *Index, ids []string, method, host, raw string) string {
	t.Helper()
	p, err := NormalizePath(raw)
	if err != nil {
		return "400"
	}
	hits, err := ix.Lookup(method, "https", host, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hits {
		got = append(got, ids[h.Index])
	}
	if len(got) == 0 {
		return "none"
	}
	return strings.Join(got, ",")
}

// TestIndexCategoryB runs SECURITY_CASES category B requests against the
// case file's rules R-pub, R-adm, R-usr and R-any in regexp form.
func TestIndexCategoryB(t *testing.T) {
	ids := []string{"R-pub", "R-adm", "R-usr", "R-any"}
	ix := NewIndex([]Entry{
		{Pattern: mustCompile(t, Regexp, "https://api.test/public/<.*>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/admin/<.*>"), Methods: []string{"GET", "POST", "DELETE"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/users/<[0-9]+>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/<.*>"), Methods: []string{"GET"}},
	})
	tests := []struct {
		name, method, host, raw string
		want                    string
	}{
		// The R-pub rule must never be the only hit for an admin path.
		{name: "B-01 dot dot", raw: "/public/../admin/secrets", want: "R-adm,R-any"},
		{name: "B-01 dot dot dot", raw: "/public/./../admin/secrets", want: "R-adm,R-any"},
		{name: "B-01 two levels", raw: "/public/x/../../admin/secrets", want: "R-adm,R-any"},
		{name: "B-03 double encoding", raw: "/public/%252e%252e/admin/secrets", want: "400"},
		{name: "B-04 encoded slash", raw: "/public%2F..%2Fadmin/secrets", want: "400"},
		{name: "B-04 raw backslash", raw: `/public\..\admin/secrets`, want: "400"},
		{name: "B-06 query is not matched", raw: "/admin/secrets", want: "R-adm,R-any"},
		{name: "B-08 semicolon", raw: "/public/..;/admin/secrets", want: "400"},
		{name: "B-10 trailing dot", raw: "/admin./secrets", want: "400"},
		{name: "B-12 other host", host: "apiXtest", raw: "/public/x", want: "none"},
		{name: "B-12 admin public", raw: "/admin/public/x", want: "R-adm,R-any"},
		{name: "B-16 overlong", raw: "/public/%C0%AE%C0%AE/admin", want: "400"},
		{name: "B-24 unknown host", host: "other.test", raw: "/public/x", want: "none"},
		{name: "B-26 encoded letter", raw: "/adm%69n/secrets", want: "R-adm,R-any"},
		{name: "R-usr digits", raw: "/users/1234", want: "R-usr,R-any"},
		{name: "R-usr letters", raw: "/users/abcd", want: "R-any"},
		{name: "method not allowed", method: "PUT", raw: "/admin/x", want: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, host := tt.method, tt.host
			if method == "" {
				method = "GET"
			}
			if host == "" {
				host = "api.test"
			}
			if got := lookupRaw(t, ix, ids, method, host, tt.raw); got != tt.want {
				t.Fatalf("%s %s = %s, want %s", method, tt.raw, got, tt.want)
			}
		})
	}
}

// TestIndexTraversalDoesNotHitPublic is B-01 at the Index: with only the
// public rule loaded, "/public/../admin/x" matches nothing.
func TestIndexTraversalDoesNotHitPublic(t *testing.T) {
	ix := NewIndex([]Entry{{Pattern: mustCompile(t, Regexp, "https://api.test/public/<.*>"), Methods: []string{"GET"}}})
	if got := lookupRaw(t, ix, []string{"R-pub"}, "GET", "api.test", "/public/../admin/x"); got != "none" {
		t.Fatalf("got %s, want none", got)
	}
}

// TestIndexAdminPrefixNeedsItsOwnRule documents B-10: "/admin/<**>" does not
// cover "/admin" or "/admin/" (which path.Clean turns into "/admin"); rule
// authors need "https://api.test/admin" too, or "<(/.*)?>" in regexp form.
func TestIndexAdminPrefixNeedsItsOwnRule(t *testing.T) {
	ix := NewIndex([]Entry{
		{Pattern: mustCompile(t, Glob, "https://api.test/admin/<**>"), Methods: []string{"GET"}},
		{Pattern: mustCompile(t, Regexp, "https://api.test/admin<(/.*)?>"), Methods: []string{"GET"}},
	})
	ids := []string{"glob", "regexp"}
	for _, raw := range []string{"/admin", "/admin/"} {
		if got := lookupRaw(t, ix, ids, "GET", "api.test", raw); got != "regexp" {
			t.Fatalf("%s: got %s, want regexp only", raw, got)
		}
	}
}

// TestGlobSeparatorQuirksMatchOathkeeper pins a gobwas/glob optimiser bug
// that Oathkeeper has: "*?" may cross a '/' or '.', but only for some
// literal prefixes. Matching the whole string, as Oathkeeper does, keeps
// the same answers, even through the Index.
func TestGlobSeparatorQuirksMatchOathkeeper(t *testing.T) {
	tests := []struct {
		name, pattern, input string
		want                 bool
	}{
		{name: "crosses a slash", pattern: "http://h/<[0-9]*?>api", input: "http://h/4/api", want: true},
		{name: "same glob, shorter prefix, does not", pattern: "ab<[0-9]*?>api", input: "ab4/api", want: false},
		{name: "plain star never crosses", pattern: "http://h/<[0-9]*>api", input: "http://h/4/api", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, Glob, tt.pattern)
			if _, ok, _ := p.Match(tt.input); ok != tt.want {
				t.Fatalf("Match(%q) = %v, want %v", tt.input, ok, tt.want)
			}
			if _, want := oathkeeperMatch(t, Glob, tt.pattern, tt.input); want != tt.want {
				t.Fatalf("reference engine gives %v, the test expects %v", want, tt.want)
			}
		})
	}
	ix := NewIndex([]Entry{{Pattern: mustCompile(t, Glob, "http://h/<[0-9]*?>api"), Methods: []string{"GET"}}})
	if hits, _ := ix.Lookup("GET", "http", "h", "/4/api", nil); len(hits) != 1 {
		t.Fatalf("Lookup hits = %v, want the quirk reproduced", hits)
	}
}

// TestLookupDoesNotAllocate is the hot path's budget: no allocation for
// patterns without capture groups when dst has room. Every regexp "<...>"
// is a group, so the regexp case is a fully literal pattern.
func TestLookupDoesNotAllocate(t *testing.T) {
	tests := []struct {
		name     string
		strategy Strategy
		pattern  string
		path     string
	}{
		{name: "glob suffix", strategy: Glob, pattern: "https://api.test/public/<**>", path: "/public/a/b"},
		{name: "glob segment", strategy: Glob, pattern: "https://api.test/users/<*>", path: "/users/1234"},
		{name: "literal regexp", strategy: Regexp, pattern: "https://api.test/health", path: "/health"},
		{name: "wildcard authority glob", strategy: Glob, pattern: "https://<*>.test/public/<**>", path: "/public/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Surround the rule with others so the trie is exercised.
			entries := []Entry{{Pattern: mustCompile(t, tt.strategy, tt.pattern), Methods: []string{"GET"}}}
			for i := range 100 {
				p := mustCompile(t, Regexp, fmt.Sprintf("https://api.test/svc%d/<.*>", i))
				entries = append(entries, Entry{Pattern: p, Methods: []string{"GET"}})
			}
			ix := NewIndex(entries)
			dst := make([]Hit, 0, 4)
			allocs := testing.AllocsPerRun(1000, func() {
				hits, err := ix.Lookup("GET", "https", "api.test", tt.path, dst[:0])
				if err != nil || len(hits) != 1 || hits[0].Index != 0 {
					t.Fatalf("Lookup = %v, %v", hits, err)
				}
			})
			if allocs != 0 {
				t.Fatalf("Lookup allocated %v times per call", allocs)
			}
		})
	}
}

// TestLookupLongPath covers match strings too long for the pooled buffer.
func TestLookupLongPath(t *testing.T) {
	ix := NewIndex([]Entry{{Pattern: mustCompile(t, Glob, "https://api.test/public/<**>"), Methods: []string{"GET"}}})
	path := "/public/" + strings.Repeat("a/", 1000)
	if hits, err := ix.Lookup("GET", "https", "api.test", path, nil); err != nil || len(hits) != 1 {
		t.Fatalf("Lookup = %v, %v", hits, err)
	}
}

// TestLookupConcurrent runs lookups from many goroutines. Under -race it
// checks that the pooled match-string buffers are never shared.
func TestLookupConcurrent(t *testing.T) {
	var entries []Entry
	for i := range 50 {
		entries = append(entries,
			Entry{Pattern: mustCompile(t, Glob, fmt.Sprintf("https://api.test/g%d/<*>", i)), Methods: []string{"GET"}},
			Entry{Pattern: mustCompile(t, Regexp, fmt.Sprintf("https://api.test/r%d/<[0-9]+>", i)), Methods: []string{"GET"}},
		)
	}
	ix := NewIndex(entries)
	done := make(chan error)
	for w := range 8 {
		go func() {
			var err error
			for i := range 2000 {
				n := (w + i) % 50
				g, gerr := ix.Lookup("GET", "https", "api.test", fmt.Sprintf("/g%d/x", n), nil)
				r, rerr := ix.Lookup("GET", "https", "api.test", fmt.Sprintf("/r%d/%d", n, i), nil)
				switch {
				case gerr != nil || rerr != nil:
					err = fmt.Errorf("Lookup: %v, %v", gerr, rerr)
				case len(g) != 1 || g[0].Index != 2*n:
					err = fmt.Errorf("glob hits %v, want entry %d", g, 2*n)
				case len(r) != 1 || r[0].Index != 2*n+1 || r[0].Captures[0] != fmt.Sprint(i):
					err = fmt.Errorf("regexp hits %v, want entry %d capturing %d", r, 2*n+1, i)
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
