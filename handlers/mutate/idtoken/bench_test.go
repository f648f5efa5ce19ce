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
