package match

import (
	"fmt"
	"strings"
	"testing"
)

// authorityPatterns are rules whose scheme or host is a "<...>" part, as
// Oathkeeper rule sets write them, and the tricky variants: alternatives
// holding ':' or '/', upper case, parts that can swallow the "://", a
// host with a port, glob sets. bucketed says whether NewIndex can file
// the rule under its host instead of trying it for every request.
var authorityPatterns = []struct {
	strategy Strategy
	pattern  string
	bucketed bool
}{
	{Regexp, "<http|https>://demo/svc-00001/<.*>", true},
	{Regexp, "<https?>://demo/svc-00002/<[0-9]+>", true},
	{Regexp, "<(?:ht)tps?>://demo/svc-00003", true},
	{Regexp, "<HTTP|https>://Demo/svc-00004/<.*>", true},
	{Regexp, "<http|https>://demo:8080/svc-00005/<.*>", true},
	{Regexp, "<http|https>://<api|www>.demo/svc-00006/<.*>", true},
	{Regexp, "<http|https>://<a|a.demo/a>.demo/<.*>", false}, // one host, two path prefixes
	{Regexp, "<ht:tp|http>://demo/svc-00007/<.*>", true},
	{Regexp, "<a/b|https>://demo/svc-00008/<.*>", true},
	{Regexp, "<https://demo|http>://demo/svc-00009/<.*>", true},
	{Regexp, "<[a-z]+>://demo/svc-00010/<.*>", true},
	{Regexp, "<[^:]+>://demo/svc-00011/<.*>", true},
	{Regexp, "<[^/]*>://demo/svc-00012/<.*>", true},
	{Regexp, "<(?i)https>://demo/svc-00013/<.*>", true},
	{Regexp, "<.*>://demo/svc-00014/<.*>", false}, // may swallow "://demo/"
	{Regexp, "<.+>://demo/<.*>", false},
	{Regexp, "h<[a-z]*>://demo/svc-00015", true},
	{Regexp, "<http|https>://<[a-z]+>.demo/svc-00016/<.*>", false},
	{Regexp, "<http|https>://demo<.*>", false},
	{Regexp, "<http|https>://demo", true},
	{Regexp, "<http|https>://demo/svc-00017/<(?!admin).*>", false}, // backtracking engine
	{Glob, "<{http,https}>://demo/svc-00018/<**>", true},
	{Glob, "<{HTTP,https}>://demo/svc-00019/<*>", true},
	{Glob, "<{ht:tp,http}>://demo/svc-00020/<**>", true},
	{Glob, "<http>://demo/svc-00021/<**>", true},
	{Glob, "<*>://demo/svc-00022/<**>", false},
	{Glob, "<{http,https}*>://demo/svc-00023/<**>", false},
	{Regexp, "https://demo/svc-00024/<.*>", true},
	{Regexp, "https://<.*>/svc-00025/<.*>", false},
}

// TestIndexAuthorityParts runs requests against rules whose authority has
// "<...>" parts: Lookup, LookupAnyMethod and CaseVariants must give what
// a linear scan gives, and the common shapes must be bucketed.
func TestIndexAuthorityParts(t *testing.T) {
	entries := make([]Entry, len(authorityPatterns))
	for i, ap := range authorityPatterns {
		entries[i] = Entry{Pattern: mustCompile(t, ap.strategy, ap.pattern), Methods: []string{"GET"}}
		if _, ok := entries[i].Pattern.indexKeys(); ok != ap.bucketed {
			t.Errorf("%s: bucketed = %v, want %v", ap.pattern, ok, ap.bucketed)
		}
	}
	ix := NewIndex(entries)
	for _, w := range ix.wildcard {
		if authorityPatterns[w].bucketed {
			t.Errorf("%s is in the wildcard list", authorityPatterns[w].pattern)
		}
	}
	schemes := []string{"http", "https", "HTTP", "ht:tp", "a/b", "https://demo", "", "h"}
	hosts := []string{"demo", "demo:8080", "api.demo", "www.demo", "a.demo", "x.demo", "other", "demo/x"}
	var paths []string
	for i := range 26 {
		for _, rest := range []string{"", "/", "/42", "/a/b", "/x\n", "/\xff"} {
			paths = append(paths, fmt.Sprintf("/svc-%05d%s", i, rest), fmt.Sprintf("/SVC-%05d%s", i, rest))
		}
	}
	paths = append(paths, "", "/", "/a.demo/x", "/x", "://demo/svc-00014/x")
	matched := 0
	for _, scheme := range schemes {
		for _, host := range hosts {
			for _, path := range paths {
				want, limited := linearScan(entries, "GET", scheme, host, path)
				got, err := ix.Lookup("GET", scheme, host, path, nil)
				if timedOut(t, err, got) || limited {
					continue
				}
				if !hitsEqual(got, want) {
					t.Fatalf("Lookup(%q) = %v, %v; linear scan gives %v", MatchString(scheme, host, path), got, err, want)
				}
				matched += len(want)
				if got, err := ix.LookupAnyMethod(scheme, host, path, nil); !timedOut(t, err, got) && !hitsEqual(got, want) {
					t.Fatalf("LookupAnyMethod(%q) = %v, %v; linear scan gives %v", MatchString(scheme, host, path), got, err, want)
				}
				if !plainAuthority(scheme, host, path) {
					continue
				}
				wantCase, limited := linearCaseVariants(entries, "GET", scheme, host, path, -1)
				if got, err := ix.CaseVariants("GET", scheme, host, path, -1, nil); !timedOut(t, err, got) && !limited && !hitsEqual(got, wantCase) {
					t.Fatalf("CaseVariants(%q) = %v, %v; linear scan gives %v", MatchString(scheme, host, path), got, err, wantCase)
				}
			}
		}
	}
	if matched < 100 {
		t.Fatalf("only %d hits: the requests miss the rules", matched)
	}
}

// TestIndexBucketsCompareShape checks the point of bucketing: with many
// rules of the shape "<http|https>://host/svc/<.*>", a request runs only
// the rules under its own host and path prefix, never the whole list.
func TestIndexBucketsCompareShape(t *testing.T) {
	entries := scaleEntries(t, 0, 1000)
	ix := NewIndex(entries)
	if len(ix.wildcard) != 0 {
		t.Fatalf("%d rules in the wildcard list, want 0", len(ix.wildcard))
	}
	tried := 0
	ix.hosts["demo"].walk("/svc-00500/x", func(int) bool { tried++; return true })
	if tried != 1 {
		t.Fatalf("the request reaches %d rules, want 1", tried)
	}
	for _, scheme := range []string{"http", "https"} {
		hits, err := ix.Lookup("GET", scheme, "demo", "/svc-00500/a/b", nil)
		if err != nil || len(hits) != 1 || hits[0].Index != 500 || strings.Join(hits[0].Captures, ",") != scheme+",a/b" {
			t.Fatalf("Lookup(%s) = %v, %v", scheme, hits, err)
		}
	}
}
