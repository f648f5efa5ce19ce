package introspection

import (
	"context"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// BenchmarkAuthenticateCacheHit measures the request path when the answer
// is cached: token extraction, key derivation, cache lookup, every check
// and building the session.
func BenchmarkAuthenticateCacheHit(b *testing.B) {
	p := newIDP(b, map[string]string{"tok": `{"active":true,"sub":"alice","scope":"read write","aud":["api"],
		"iss":"https://idp.test","client_id":"c1","username":"al","ext":{"tenant":"t1"}}`})
	d := newDeps()
	a, err := d.build(b, map[string]any{"introspection_url": p.URL, "cache": cacheOn, "scope_strategy": "exact",
		"required_scope": []any{"read"}, "target_audience": []any{"api"}, "trusted_issuers": []any{"https://idp.test"}})
	if err != nil {
		b.Fatal(err)
	}
	r := bearer("tok")
	if err := a.Authenticate(context.Background(), r, &pipeline.Session{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Authenticate(context.Background(), r, &pipeline.Session{}); err != nil {
			b.Fatal(err)
		}
	}
	if p.calls.Load() != 1 {
		b.Fatalf("calls = %d: the benchmark missed the cache", p.calls.Load())
	}
}
