package jwt

import (
	"context"
	"testing"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// BenchmarkVerify measures one Authenticate call for RS256 and ES256
// tokens: cold (no token cache, full verification) and cache hit.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b, jwks.Options{})
	tokens := map[string]string{
		"RS256": tok(b, K1, H0(), claims(map[string]any{"scope": "read write"})),
		"ES256": tok(b, E1, hdr(map[string]any{"alg": "ES256", "kid": "e1"}), claims(map[string]any{"scope": "read write"})),
	}
	for _, alg := range []string{"RS256", "ES256"} {
		for _, mode := range []string{"cold", "hit"} {
			b.Run(alg+"/"+mode, func(b *testing.B) {
				var tc *TokenCache
				if mode == "hit" {
					tc = NewTokenCache(TokenCacheOptions{})
				}
				a := e.auth(b, e.J0(), tc)
				r := bearer(tokens[alg])
				ctx := context.Background()
				if err := a.Authenticate(ctx, r, &pipeline.Session{}); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					var s pipeline.Session
					if err := a.Authenticate(ctx, r, &s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerifyParallelHit measures cache hits from all CPUs at once, the
// shape of real traffic: many requests presenting the same few tokens.
func BenchmarkVerifyParallelHit(b *testing.B) {
	e := newEnv(b, jwks.Options{})
	a := e.auth(b, e.J0(), NewTokenCache(TokenCacheOptions{}))
	reqs := make([]*pipeline.Request, 16)
	for i := range reqs {
		reqs[i] = bearer(tok(b, K1, H0(), claims(map[string]any{"jti": itoa(int64(i))})))
		if err := a.Authenticate(context.Background(), reqs[i], &pipeline.Session{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			var s pipeline.Session
			if err := a.Authenticate(context.Background(), reqs[i%len(reqs)], &s); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
