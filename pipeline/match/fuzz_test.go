package match_test

import (
	"errors"
	"flag"
	"os"
	"path"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// pathSeeds are raw :path values as Envoy forwards them: ordinary API
// paths, and one of each attack class of SECURITY_CASES category B.
var pathSeeds = []string{
	"", "/", "/api/v1/users/42", "/public/../admin/secrets", "//admin", "/a/./b/",
	"/adm%69n", "/%2e%2e/admin", "/%252e%252e/admin", "/%252f", "/a%2Fb", "/a%5cb", `/a\b`,
	"/a;jsessionid=1", "/a%3bb", "/a%00b", "/a%0d%0ab", "/%c0%ae%c0%ae/", "/caf%C3%A9",
	"/%e2%80%8b", "/%c2%85", "/admin%20/", "/admin./x", "/a%3fb", "/a%23b", "/a?b", "/a#b",
	"*", "http://h/x", "/%", "/%4", "/%zz", "/..a/b..c", "/ä/ü", "/a%2541",
}

// FuzzPathIdentity checks what the matcher relies on: whatever the input,
// NormalizePath returns either ErrMalformedPath or a clean, decoded,
// printable path without double-encoded separators or dots, which a second
// pass does not change. (FuzzNormalizePath in the package's own tests
// compares it with Oathkeeper's path.Clean.)
func FuzzPathIdentity(f *testing.F) {
	for _, s := range pathSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := match.NormalizePath(raw)
		if err != nil {
			if !errors.Is(err, match.ErrMalformedPath) || out != "" {
				t.Fatalf("NormalizePath(%q) = %q, %v; want \"\" and ErrMalformedPath", raw, out, err)
			}
			return
		}
		if (raw == "") != (out == "") || out != "" && out[0] != '/' {
			t.Fatalf("NormalizePath(%q) = %q: want \"\" exactly for \"\", else a path starting with '/'", raw, out)
		}
		if out != "" && path.Clean(out) != out {
			// Covers "." and ".." segments, "//" and a trailing slash.
			t.Fatalf("NormalizePath(%q) = %q, which is not clean (path.Clean gives %q)", raw, out, path.Clean(out))
		}
		if !utf8.ValidString(out) {
			t.Fatalf("NormalizePath(%q) = %q: invalid UTF-8", raw, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || r == '\\' || r == ';' {
				t.Fatalf("NormalizePath(%q) = %q: contains %U", raw, out, r)
			}
		}
		// A literal '%' in the output comes from "%25"; it must not spell an
		// encoded separator or dot that an upstream decoding once more
		// would act on: double-encoded forms are refused.
		lower := strings.ToLower(out)
		for _, enc := range []string{"%2f", "%5c", "%2e"} {
			if strings.Contains(lower, enc) {
				t.Fatalf("NormalizePath(%q) = %q: double-encoded %s survives; it must be refused", raw, out, enc)
			}
		}
		// A second pass never yields another path: it accepts the output
		// unchanged, or refuses what decoding produced and a raw path may
		// not hold (a literal '%', '?' or '#').
		again, err := match.NormalizePath(out)
		switch {
		case err == nil && again != out:
			t.Fatalf("NormalizePath is not idempotent: %q -> %q -> %q", raw, out, again)
		case err != nil && !strings.ContainsAny(out, "%?#"):
			t.Fatalf("NormalizePath(%q) = %q, which it then refuses: %v", raw, out, err)
		}
	})
}

// hostSeeds are authorities as clients send them, canonical or not.
var hostSeeds = []struct{ scheme, host string }{
	{"https", "api.example.com"}, {"https", "API.Example.com."}, {"http", "api.test:80"},
	{"https", "api.test:443"}, {"https", "api.test:8443"}, {"http", "api.test:0080"},
	{"http", "api.test:"}, {"https", "127.0.0.1"}, {"https", "127.1"}, {"https", "0x7f.0.0.1"},
	{"https", "[2001:db8::1]:443"}, {"https", "[2001:DB8:0::1]"}, {"https", "[fe80::1%25eth0]"},
	{"https", "xn--bcher-kva.example"}, {"https", "bücher.example"}, {"https", "api%2etest"},
	{"https", "user@api.test"}, {"https", "a..b"}, {"https", "."}, {"grpc", "svc.ns:50051"},
	{"", "localhost"}, {"HTTPS", "api.test:443"}, {"https", "api.test:65536"},
}

// FuzzCanonicalHost checks the host identity both front doors rely on:
// CanonicalHost returns ErrMalformedHost or a host that is lower-case,
// without a trailing dot or the scheme's default port, made of the bytes
// a DNS name, an IPv4 address or a bracketed IPv6 literal allows, that a
// second pass returns unchanged, and that every ASCII case spelling of the
// input and of the scheme reaches.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range hostSeeds {
		f.Add(s.scheme, s.host)
	}
	f.Fuzz(func(t *testing.T, scheme, host string) {
		out, err := match.CanonicalHost(scheme, host)
		if err != nil {
			if !errors.Is(err, match.ErrMalformedHost) || out != "" {
				t.Fatalf("CanonicalHost(%q, %q) = %q, %v; want no host and ErrMalformedHost", scheme, host, out, err)
			}
		} else {
			checkCanonicalHost(t, scheme, host, out)
		}
		for _, variant := range [][2]string{
			{scheme, caseASCII(host, true)}, {caseASCII(scheme, true), host}, {caseASCII(scheme, false), caseASCII(host, false)},
		} {
			got, gotErr := match.CanonicalHost(variant[0], variant[1])
			if got != out || (gotErr == nil) != (err == nil) {
				t.Fatalf("CanonicalHost(%q, %q) = %q, %v but CanonicalHost(%q, %q) = %q, %v: case must not matter",
					scheme, host, out, err, variant[0], variant[1], got, gotErr)
			}
		}
	})
}

func checkCanonicalHost(t *testing.T, scheme, host, out string) {
	t.Helper()
	if (host == "") != (out == "") {
		t.Fatalf("CanonicalHost(%q, %q) = %q: want an empty host exactly for an empty input", scheme, host, out)
	}
	if out == "" {
		return
	}
	for i := 0; i < len(out); i++ {
		c := out[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-._:[]", c) >= 0) {
			t.Fatalf("CanonicalHost(%q, %q) = %q: byte %q", scheme, host, out, c)
		}
	}
	name, port := out, ""
	if i := strings.LastIndexByte(out, ':'); i >= 0 && !strings.HasSuffix(out, "]") {
		name, port = out[:i], out[i+1:]
	}
	switch {
	case strings.HasSuffix(name, "."):
		t.Fatalf("CanonicalHost(%q, %q) = %q: trailing dot", scheme, host, out)
	case port == "80" && strings.EqualFold(scheme, "http"), port == "443" && strings.EqualFold(scheme, "https"):
		t.Fatalf("CanonicalHost(%q, %q) = %q: default port kept", scheme, host, out)
	}
	if again, err := match.CanonicalHost(scheme, out); err != nil || again != out {
		t.Fatalf("CanonicalHost is not idempotent: %q -> %q -> %q, %v", host, out, again, err)
	}
}

// caseASCII upper- or lower-cases ASCII letters only: non-ASCII must be
// refused in every spelling, and strings.ToUpper and ToLower turn some of
// it into ASCII (U+212A KELVIN SIGN lowers to 'k').
func caseASCII(s string, upper bool) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// fixedEntries are rules of each shape Index buckets differently: literal
// authority with a path prefix, a fully literal URL, and a "<...>" in the
// authority (the wildcard list).
var fixedEntries = []struct {
	strategy match.Strategy
	pattern  string
}{
	{match.Regexp, "https://api.test/public/<.*>"},
	{match.Regexp, "https://api.test/admin"},
	{match.Regexp, "<https|http>://<[^/]+>/admin/<.*>"},
	{match.Glob, "https://api.test/<**>"},
	{match.Glob, "<*>://<*>/users/<*>"},
	{match.Regexp, "<http|https>://api.test/public/<.*>"},
	{match.Regexp, "<https?>://<api|www>.test/users/<[0-9]+>"},
	{match.Regexp, "<[a-z]+>://api.test/<[^/]+>/x"},
	{match.Glob, "<{http,https}>://api.test/<**>"},
}

// authoritySeeds are patterns whose scheme or host is a "<...>" part, with
// a request each, for FuzzPattern: the Index buckets some of them by host.
var authoritySeeds = [][4]string{
	{"<http|https>://demo/svc-00001/<.*>", "https", "demo", "/svc-00001/x"},
	{"<ht:tp|https>://demo/<.*>", "ht:tp", "demo", "/x"},
	{"<a/b|https>://demo/<.*>", "a/b", "demo", "/x"},
	{"<.*>://demo/<.*>", "https", "demo", "/a://demo/x"},
	{"<[^:]+>://demo:8080/x", "HTTPS", "demo:8080", "/x"},
	{"<HTTP|https>://Demo/<[0-9]+>", "HTTP", "demo", "/42"},
	{"<{http,https}>://demo/<**>", "http", "demo", "/a/b"},
	{"<http|https>://<a|a.demo/a>.demo/<.*>", "https", "a.demo", "/a.demo/x"},
}

// FuzzPattern compiles a fuzzed match.url under both strategies and
// matches it against a fuzzed request. Compile must return a pattern or an
// error (never for a pattern without delimiters); Match must return a
// match with captures (none for glob), a miss, or ErrMatchLimit; and
// Index.Lookup must give exactly what a scan calling Match on every entry
// gives.
func FuzzPattern(f *testing.F) {
	seedPatterns(f)
	for _, s := range authoritySeeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	fixed := make([]*match.Pattern, len(fixedEntries))
	for i, e := range fixedEntries {
		p, err := match.Compile(e.strategy, e.pattern)
		if err != nil {
			f.Fatal(err)
		}
		fixed[i] = p
	}
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	f.Fuzz(func(t *testing.T, pattern, scheme, host, rawPath string) {
		s := match.MatchString(scheme, host, rawPath)
		for _, strategy := range []match.Strategy{match.Regexp, match.Glob} {
			start := time.Now()
			p, err := match.Compile(strategy, pattern)
			// Only while fuzzing: the seed run under -race on a loaded
			// machine must not depend on the wall clock. The bound is far
			// above the 100ms regexp2 limit, far below a hang.
			if d := time.Since(start); fuzzing && d > 2*time.Second {
				t.Fatalf("Compile(%s, %q) took %v", strategy, pattern, d)
			}
			if err != nil {
				if p != nil {
					t.Fatalf("Compile(%s, %q) returned a pattern and %v", strategy, pattern, err)
				}
				if !strings.ContainsAny(pattern, "<>") {
					t.Fatalf("Compile(%s, %q): a pattern without delimiters is a literal, got %v", strategy, pattern, err)
				}
				continue
			}
			if p.String() != pattern {
				t.Fatalf("String() = %q, want %q", p.String(), pattern)
			}
			start = time.Now()
			caps, ok, err := p.Match(s)
			if d := time.Since(start); fuzzing && d > 2*time.Second {
				t.Fatalf("Compile(%s, %q).Match(%q) took %v: the backtracking limit did not hold", strategy, pattern, s, d)
			}
			checkMatch(t, strategy, pattern, s, caps, ok, err)
			checkIndex(t, append(slices.Clone(fixed), p), scheme, host, rawPath)
		}
	})
}

func checkMatch(t *testing.T, strategy match.Strategy, pattern, s string, caps []string, ok bool, err error) {
	t.Helper()
	switch {
	case err != nil:
		if ok || caps != nil || !errors.Is(err, match.ErrMatchLimit) {
			t.Fatalf("Compile(%s, %q).Match(%q) = %q, %v, %v; an error must be ErrMatchLimit and no match", strategy, pattern, s, caps, ok, err)
		}
		if strategy == match.Glob {
			t.Fatalf("glob pattern %q returned %v", pattern, err)
		}
	case ok:
		if caps == nil {
			t.Fatalf("Compile(%s, %q).Match(%q): a match with nil captures", strategy, pattern, s)
		}
		if strategy == match.Glob && len(caps) != 0 {
			t.Fatalf("glob pattern %q captured %q", pattern, caps)
		}
	case caps != nil:
		t.Fatalf("Compile(%s, %q).Match(%q) = %q on a miss", strategy, pattern, s, caps)
	}
}

// checkIndex compares Index.Lookup with a linear scan. Lookup's contract
// covers hosts from CanonicalHost and paths from NormalizePath, so the
// request is put through them first and skipped when they refuse it. A
// regexp may time out in one run and not in the other: only the error
// kind is checked then.
func checkIndex(t *testing.T, patterns []*match.Pattern, scheme, rawHost, rawPath string) {
	t.Helper()
	p, err := match.NormalizePath(rawPath)
	if err != nil {
		return
	}
	host, err := match.CanonicalHost(scheme, rawHost)
	if err != nil {
		return
	}
	entries := make([]match.Entry, len(patterns))
	for i, pat := range patterns {
		entries[i] = match.Entry{Pattern: pat, Methods: []string{"GET"}}
	}
	got, gotErr := match.NewIndex(entries).Lookup("GET", scheme, host, p, nil)
	var want []match.Hit
	var wantErr error
	s := match.MatchString(scheme, host, p)
	for i, pat := range patterns {
		caps, ok, err := pat.Match(s)
		if err != nil {
			wantErr = err
			break
		}
		if ok {
			want = append(want, match.Hit{Index: i, Captures: caps})
		}
	}
	if gotErr != nil || wantErr != nil {
		if gotErr != nil && (!errors.Is(gotErr, match.ErrMatchLimit) || len(got) != 0) {
			t.Fatalf("Lookup(%q, %q, %q) = %v, %v; an error must be ErrMatchLimit with no hits", scheme, host, p, got, gotErr)
		}
		return
	}
	if !slices.EqualFunc(got, want, func(a, b match.Hit) bool {
		return a.Index == b.Index && slices.Equal(a.Captures, b.Captures)
	}) {
		t.Fatalf("Lookup(%q, %q, %q) = %v, a linear scan gives %v (patterns %q)", scheme, host, p, got, want, patterns)
	}
}

// seedPatterns adds every pattern and URL of the Oathkeeper compatibility
// cases, each split into scheme, host and path as a request would be.
func seedPatterns(f *testing.F) {
	b, err := os.ReadFile("testdata/matching_cases.yaml")
	if err != nil {
		f.Fatal(err)
	}
	var cases map[string]any
	if err := yaml.Unmarshal(b, &cases); err != nil {
		f.Fatal(err)
	}
	n := 0
	for _, group := range cases {
		list, _ := group.([]any)
		for _, c := range list {
			m, _ := c.(map[string]any)
			pattern, _ := m["pattern"].(string)
			u, _ := m["url"].(string)
			if u == "" {
				u, _ = m["input"].(string)
			}
			if pattern == "" {
				continue
			}
			scheme, rest, _ := strings.Cut(u, "://")
			host, p := rest, ""
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				host, p = rest[:i], rest[i:]
			}
			p, _, _ = strings.Cut(p, "?")
			f.Add(pattern, scheme, host, p)
			n++
		}
	}
	if n < 50 {
		f.Fatalf("only %d seed patterns in testdata/matching_cases.yaml", n)
	}
}
