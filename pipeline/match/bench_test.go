package match

import (
	"fmt"
	"strings"
	"testing"
)

// benchRules builds n rules. "hosts" gives each rule its own host, as in a
// multi-tenant gateway; "prefixes" puts them all on one host with distinct
// first path segments, which is where the trie matters.
func benchRules(b *testing.B, shape string, strategy Strategy, n int) (*Index, []Entry, string, string) {
	b.Helper()
	part := "<.*>"
	if strategy == Glob {
		part = "<**>"
	}
	entries := make([]Entry, n)
	for i := range entries {
		pattern := fmt.Sprintf("https://api.test/svc%d/%s", i, part)
		if shape == "hosts" {
			pattern = fmt.Sprintf("https://svc%d.test/api/%s", i, part)
		}
		entries[i] = Entry{Pattern: mustCompile(b, strategy, pattern), Methods: []string{"GET", "POST"}}
	}
	host, path := "api.test", fmt.Sprintf("/svc%d/users/42", n/2)
	if shape == "hosts" {
		host, path = fmt.Sprintf("svc%d.test", n/2), "/api/users/42"
	}
	return NewIndex(entries), entries, host, path
}

func BenchmarkLookup(b *testing.B) {
	for _, shape := range []string{"hosts", "prefixes"} {
		for _, strategy := range []Strategy{Regexp, Glob} {
			for _, n := range []int{10, 1000, 10000} {
				b.Run(fmt.Sprintf("%s/%s/rules=%d", shape, strategy, n), func(b *testing.B) {
					ix, _, host, path := benchRules(b, shape, strategy, n)
					dst := make([]Hit, 0, 4)
					b.ReportAllocs()
					for b.Loop() {
						hits, err := ix.Lookup("GET", "https", host, path, dst[:0])
						if err != nil || len(hits) != 1 {
							b.Fatalf("Lookup = %v, %v", hits, err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkLinearScan is Oathkeeper's loop, for comparison with
// BenchmarkLookup/prefixes.
func BenchmarkLinearScan(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			_, entries, host, path := benchRules(b, "prefixes", Regexp, n)
			b.ReportAllocs()
			for b.Loop() {
				if hits, _ := linearScan(entries, "GET", "https", host, path); len(hits) != 1 {
					b.Fatalf("hits = %v", hits)
				}
			}
		})
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, bc := range []struct{ name, raw string }{
		{"clean", "/api/v1/users/1234"},
		{"escaped", "/api/v1/us%65rs/1234"},
		{"dots", "/api/v1/../v2/./users/1234/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizePath(bc.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCanonicalHost(b *testing.B) {
	for _, bc := range []struct{ name, host string }{
		{"canonical", "api.example.com"},
		{"default_port", "api.example.com:443"},
		{"mixed_case", "API.Example.com."},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CanonicalHost("https", bc.host); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCaseVariants is the path case guard's cost per request on the
// "prefixes" rule set: a lower-case path (the fast path) and one that
// differs from a rule's literal prefix in case.
func BenchmarkCaseVariants(b *testing.B) {
	ix, _, host, path := benchRules(b, "prefixes", Regexp, 10000)
	upper := strings.ToUpper(path[:5]) + path[5:]
	for _, bc := range []struct {
		name, path string
		hits       int
	}{{"lower", path, 0}, {"upper", upper, 1}} {
		b.Run(bc.name, func(b *testing.B) {
			dst := make([]Hit, 0, 4)
			b.ReportAllocs()
			for b.Loop() {
				hits, err := ix.CaseVariants("GET", "https", host, bc.path, -1, dst[:0])
				if err != nil || len(hits) != bc.hits {
					b.Fatalf("CaseVariants(%s) = %v, %v", bc.path, hits, err)
				}
			}
		})
	}
}
