package idtoken

import (
	"context"
	"crypto/elliptic"
	"strconv"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// BenchmarkMutate measures the request path: a cache hit renders the claims,
// hashes the key and looks it up; a miss also decodes the claims, signs and
// stores the token (each iteration uses a new subject).
func BenchmarkMutate(b *testing.B) {
	keys := []struct {
		name string
		doc  func(b *testing.B) []byte
	}{
		{"ES256", func(b *testing.B) []byte { return jwksJSON(b, jwkOf(b, newECKey(b, elliptic.P256()), "kid", "e")) }},
		{"RS256", func(b *testing.B) []byte { return jwksJSON(b, jwkOf(b, testRSAKey(b), "kid", "r", "alg", "RS256")) }},
		{"EdDSA", func(b *testing.B) []byte { return jwksJSON(b, jwkOf(b, newEdKey(b), "kid", "ed")) }},
	}
	for _, k := range keys {
		for _, hit := range []bool{true, false} {
			name := k.name + "/miss"
			if hit {
				name = k.name + "/hit"
			}
			b.Run(name, func(b *testing.B) {
				s := NewSigners(Options{})
				m := newMutator(b, Config{IssuerURL: testIssuer, JWKSURL: writeJWKS(b, k.doc(b)),
					Claims: `{"aud":"svc-a","email":{{ jsonQuote .Extra.email }}}`}, s)
				extra := map[string]any{"email": "alice@example.com"}
				ctx, r := context.Background(), &pipeline.Request{}
				sess := &pipeline.Session{Subject: "alice", Extra: extra, Header: pipeline.Header{}}
				i := 0
				b.ReportAllocs()
				for b.Loop() {
					if !hit {
						i++
						sess.Subject = "user-" + strconv.Itoa(i)
					}
					if err := m.Mutate(ctx, r, sess); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPublicJWKS measures serving /.well-known/jwks.json for the three
// Oathkeeper key sets.
func BenchmarkPublicJWKS(b *testing.B) {
	s := NewSigners(Options{})
	for _, f := range []string{"jwks-rsa-multiple.json", "jwks-ecdsa.json", "jwks-idt.json"} {
		newMutator(b, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(b, f)}, s)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.PublicJWKS(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMutateCacheHit measures the path almost every request takes: an
// ES256 token minted earlier for the same claims and subject is served
// from the cache. The claims are the common shape, a fixed audience and a
// value from .Extra.
func BenchmarkMutateCacheHit(b *testing.B) {
	s := NewSigners(Options{})
	m := newMutator(b, Config{IssuerURL: testIssuer,
		JWKSURL: writeJWKS(b, jwksJSON(b, jwkOf(b, newECKey(b, elliptic.P256()), "kid", "e"))),
		Claims:  `{"aud": ["api://orders"], "tenant": "{{ print .Extra.tenant }}"}`}, s)
	ctx, r := context.Background(), &pipeline.Request{}
	sess := &pipeline.Session{Subject: "alice", Extra: map[string]any{"tenant": "acme"}, Header: pipeline.Header{}}
	if err := m.Mutate(ctx, r, sess); err != nil { // mint once
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Mutate(ctx, r, sess); err != nil {
			b.Fatal(err)
		}
	}
	if st := s.CacheStats(); st.Misses != 1 {
		b.Fatalf("cache misses = %d, want 1 (the first mint)", st.Misses)
	}
}
