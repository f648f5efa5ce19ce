package match

import (
	"fmt"
	"runtime"
	"testing"
)

// scaleShapes are the rule sets of the 100,000-rule target: the shape
// `portcullis-load compare` uses (a scheme alternation, one host, a
// distinct first path segment, "<.*>"), the same spread over 100 hosts,
// and one ending in a digits-only part.
var scaleShapes = []struct {
	name    string
	pattern func(i int) string
	// request is a path on host that matches rule i only.
	host    func(i int) string
	request func(i int) string
}{
	{
		name:    "compare",
		pattern: func(i int) string { return fmt.Sprintf("<http|https>://demo/svc-%05d/<.*>", i) },
		host:    func(int) string { return "demo" },
		request: func(i int) string { return fmt.Sprintf("/svc-%05d/x", i) },
	},
	{
		name:    "hosts",
		pattern: func(i int) string { return fmt.Sprintf("<http|https>://host-%03d/svc-%05d/<.*>", i%100, i) },
		host:    func(i int) string { return fmt.Sprintf("host-%03d", i%100) },
		request: func(i int) string { return fmt.Sprintf("/svc-%05d/x", i) },
	},
	{
		name:    "digits",
		pattern: func(i int) string { return fmt.Sprintf("<http|https>://host/svc-%05d/<[0-9]+>", i) },
		host:    func(int) string { return "host" },
		request: func(i int) string { return fmt.Sprintf("/svc-%05d/42", i) },
	},
}

// scaleEntries compiles n rules of scaleShapes[shape].
func scaleEntries(tb testing.TB, shape, n int) []Entry {
	tb.Helper()
	s := scaleShapes[shape]
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = Entry{Pattern: mustCompile(tb, Regexp, s.pattern(i)), Methods: []string{"GET"}}
	}
	return entries
}

// BenchmarkIndexLookup is the per-request cost of finding the rule as the
// rule count grows: the request matches the middle rule. The target is
// 100,000 rules within 1.1× of 10.
func BenchmarkIndexLookup(b *testing.B) {
	for shape, s := range scaleShapes {
		for _, n := range []int{10, 1000, 100000} {
			b.Run(fmt.Sprintf("%s/rules=%d", s.name, n), func(b *testing.B) {
				ix := NewIndex(scaleEntries(b, shape, n))
				host, path := s.host(n/2), s.request(n/2)
				dst := make([]Hit, 0, 4)
				b.ReportAllocs()
				for b.Loop() {
					hits, err := ix.Lookup("GET", "https", host, path, dst[:0])
					if err != nil || len(hits) != 1 || hits[0].Index != n/2 {
						b.Fatalf("Lookup = %v, %v", hits, err)
					}
				}
			})
		}
	}
}

// BenchmarkNewIndex is the load-time cost of indexing 100,000 compiled
// rules (compiling them is BenchmarkCompileRules).
func BenchmarkNewIndex(b *testing.B) {
	entries := scaleEntries(b, 1, 100000)
	b.ReportAllocs()
	for b.Loop() {
		NewIndex(entries)
	}
}

// BenchmarkCompileRules is the load-time cost of compiling one rule's
// match.url, at 100,000 rules.
func BenchmarkCompileRules(b *testing.B) {
	for _, s := range scaleShapes {
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := Compile(Regexp, s.pattern(i%100000)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkRuleMemory reports the heap that stays live per rule (its
// match.url text, compiled Pattern and share of the Index) for 100,000
// rules, as the "bytes/rule" metric. The rules are compiled once per
// iteration and the heap is measured after a forced collection, so the
// number is stable; run it with -benchtime=1x.
func BenchmarkRuleMemory(b *testing.B) {
	const n = 100000
	for shape, s := range scaleShapes {
		b.Run(s.name, func(b *testing.B) {
			var perRule float64
			for b.Loop() {
				before := liveHeap()
				ix := NewIndex(scaleEntries(b, shape, n))
				perRule = float64(liveHeap()-before) / n
				runtime.KeepAlive(ix)
			}
			b.ReportMetric(perRule, "bytes/rule")
		})
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
