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

func scaleStore(b *testing.B) *rulestore.Store {
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
	const n = 10_000
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
