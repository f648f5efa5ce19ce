package rulestore_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"

	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// scaleRules is a rule file of n rules of the shape issue #14 measures
// at scale: anonymous -> allow -> header, 100 hosts, a regexp per rule.
func scaleRules(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "- id: r%06d\n  match:\n    url: \"<http|https>://host-%03d/svc-%05d/<.*>\"\n    methods: [GET]\n", i, i%100, i)
		b.WriteString("  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n")
		b.WriteString("  mutators: [{handler: header, config: {headers: {X-User: \"{{ print .Subject }}\"}}}]\n")
	}
	return b.Bytes()
}

func scaleStore(b testing.TB) *rulestore.Store {
	deps := builtin.NewDeps(nil)
	b.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	on := func(k pipeline.Kind) map[string]pipeline.HandlerConfig {
		m := map[string]pipeline.HandlerConfig{}
		for _, n := range reg.Names(k) {
			m[n] = pipeline.HandlerConfig{Enabled: true}
		}
		return m
	}
	return rulestore.NewStore(pipeline.Config{Authenticators: on(pipeline.KindAuthenticator), Authorizers: on(pipeline.KindAuthorizer),
		Mutators: on(pipeline.KindMutator), ErrorHandlers: on(pipeline.KindErrorHandler)}, reg, nil)
}

func apply(b *testing.B, s *rulestore.Store, data []byte, version string) {
	specs, err := rulestore.DecodeRules("rules.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Apply(specs, version); err != nil {
		b.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLoadRules decodes and applies a rule file into an empty store,
// as serve's first load does, and reports the heap the loaded rules keep.
func BenchmarkLoadRules(b *testing.B) {
	const n = 10_000
	data := scaleRules(n)
	var kept float64
	for b.Loop() {
		before := heapInUse()
		s := scaleStore(b)
		apply(b, s, data, "v1")
		kept = float64(heapInUse()-before) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(kept, "heap-B/rule")
}

// BenchmarkReloadOneLineChange applies a rule file that differs from the
// one in force by one line, as a file reload does.
func BenchmarkReloadOneLineChange(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) { benchmarkReload(b, n) })
	}
}

func benchmarkReload(b *testing.B, n int) {
	data := scaleRules(n)
	changed := bytes.Replace(data, []byte("svc-00007/"), []byte("svc-00007x/"), 1)
	s := scaleStore(b)
	apply(b, s, data, "v0")
	i := 0
	for b.Loop() {
		next, v := data, "even"
		if i++; i%2 == 1 {
			next, v = changed, "odd"
		}
		apply(b, s, next, v)
	}
}

// scaleRulesJSON is scaleRules written as JSON, a rule a line.
func scaleRulesJSON(n int) []byte {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"id": "r%06d", "match": {"url": "<http|https>://host-%03d/svc-%05d/<.*>", "methods": ["GET"]}, `, i, i%100, i)
		b.WriteString(`"authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"}, `)
		b.WriteString(`"mutators": [{"handler": "header", "config": {"headers": {"X-User": "{{ print .Subject }}"}}}]}`)
	}
	b.WriteString("\n]\n")
	return b.Bytes()
}

// BenchmarkDecodeRules decodes a file of 100,000 rules, YAML and JSON, as
// a first load does (nothing of an earlier decode to reuse).
func BenchmarkDecodeRules(b *testing.B) {
	const n = 100_000
	for _, tt := range []struct {
		name string
		data []byte
	}{{"yaml", scaleRules(n)}, {"json", scaleRulesJSON(n)}} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.data)))
			i := 0
			for b.Loop() {
				// A new name each time: no blocks of the last decode.
				i++
				if _, err := rulestore.DecodeRules(fmt.Sprintf("rules-%d", i), tt.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoad100k decodes and applies a file of 100,000 rules, YAML and
// JSON, into an empty store, as serve's first load does.
func BenchmarkLoad100k(b *testing.B) {
	const n = 100_000
	for _, tt := range []struct {
		name string
		data []byte
	}{{"yaml", scaleRules(n)}, {"json", scaleRulesJSON(n)}} {
		b.Run(tt.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				specs, err := rulestore.DecodeRules(fmt.Sprintf("rules-%d", i), tt.data)
				if err != nil {
					b.Fatal(err)
				}
				if err := scaleStore(b).Apply(specs, "v1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
