package jwt

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// nestedPtr identifies the nested "obj" claim map of a session: a cache
// hit hands out the very map that was stored, a verification a new one.
func nestedPtr(t *testing.T, s *pipeline.Session) uintptr {
	t.Helper()
	m, ok := s.Extra["obj"].(map[string]any)
	if !ok {
		t.Fatalf("no obj claim in %v", s.Extra)
	}
	return reflect.ValueOf(m).Pointer()
}

func objClaims() map[string]any { return claims(map[string]any{"obj": map[string]any{"k": "v"}}) }

func TestTokenCacheHitSkipsVerification(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	a := e.auth(t, e.J0(), NewTokenCache(TokenCacheOptions{}))
	raw := tok(t, K1, H0(), objClaims())
	s1, err := run(a, bearer(raw))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := run(a, bearer(raw))
	if err != nil {
		t.Fatal(err)
	}
	if nestedPtr(t, s1) != nestedPtr(t, s2) {
		t.Fatal("second request verified the token again")
	}
	uncached := e.auth(t, e.J0(), nil)
	s3, _ := run(uncached, bearer(raw))
	s4, _ := run(uncached, bearer(raw))
	if nestedPtr(t, s3) == nestedPtr(t, s4) {
		t.Fatal("without a cache every request must verify")
	}
}

func TestTokenCacheHitStillChecksTime(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	a := e.auth(t, e.J0(), NewTokenCache(TokenCacheOptions{TTL: time.Hour}))
	raw := tok(t, K1, H0(), C0()) // exp NOW+300, skew 30s
	if _, err := run(a, bearer(raw)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Duration
		want string
	}{
		{"inside the skew after exp", 329 * time.Second, ""},
		{"past exp plus skew", 331 * time.Second, ReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.now = func() time.Time { return NOW.Add(tt.at) }
			s, err := run(a, bearer(raw))
			checkOutcome(t, tt.want, s, err, raw)
		})
	}
}

func TestTokenCacheKeyIncludesTheRuleConfig(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	shared := NewTokenCache(TokenCacheOptions{})
	lax := e.auth(t, e.J0(), shared)
	strictCfg := e.J0()
	strictCfg.TargetAudience = []string{"api://other"}
	strict := e.auth(t, strictCfg, shared)
	raw := tok(t, K1, H0(), C0())
	if _, err := run(lax, bearer(raw)); err != nil {
		t.Fatal(err)
	}
	s, err := run(strict, bearer(raw))
	checkOutcome(t, ReasonAudienceMismatch, s, err, raw)
}

func TestTokenCacheEntriesExpireAfterTTL(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	a := e.auth(t, e.J0(), NewTokenCache(TokenCacheOptions{TTL: time.Second}))
	raw := tok(t, K1, H0(), objClaims())
	s1, _ := run(a, bearer(raw))
	s2, _ := run(a, bearer(raw))
	a.now = func() time.Time { return NOW.Add(time.Second) }
	s3, err := run(a, bearer(raw))
	if err != nil {
		t.Fatal(err)
	}
	if nestedPtr(t, s1) != nestedPtr(t, s2) || nestedPtr(t, s2) == nestedPtr(t, s3) {
		t.Fatal("entry must be served within its TTL and re-verified after")
	}
}

func TestTokenCacheDoesNotCacheFailures(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	tc := NewTokenCache(TokenCacheOptions{})
	a := e.auth(t, e.J0(), tc)
	raw := tok(t, KA, H0(), C0())
	for range 2 {
		s, err := run(a, bearer(raw))
		checkOutcome(t, ReasonSignatureInvalid, s, err, raw)
	}
	if tc.Len() != 0 {
		t.Fatalf("%d entries after failures", tc.Len())
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	tc := NewTokenCache(TokenCacheOptions{MaxEntries: 64})
	a := e.auth(t, e.J0(), tc)
	for i := range 300 {
		raw := tok(t, K1, H0(), claims(map[string]any{"jti": fmt.Sprint(i)}))
		if _, err := run(a, bearer(raw)); err != nil {
			t.Fatal(err)
		}
	}
	if n := tc.Len(); n == 0 || n > 64 {
		t.Fatalf("Len = %d, want 1..64", n)
	}
}

func TestTokenCacheForgetsTokensOfRotatedKeys(t *testing.T) {
	e := newEnv(t, jwks.Options{MinRefetchInterval: time.Second})
	a := e.auth(t, e.J0(), NewTokenCache(TokenCacheOptions{TTL: time.Hour}))
	raw := tok(t, K1, H0(), C0())
	if _, err := run(a, bearer(raw)); err != nil {
		t.Fatal(err)
	}
	e.idp.set(jwksDoc(publicJWK(t, &K2.PublicKey, map[string]any{"kid": "k2"})), 200)
	e.clock.Advance(time.Second)
	if !e.keys.Refetch(context.Background(), a.srcs, time.Hour) {
		t.Fatal("no refetch after the interval")
	}
	s, err := run(a, bearer(raw))
	checkOutcome(t, ReasonKeyNotFound, s, err, raw)
}

func TestTokenCacheConcurrentUse(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	a := e.auth(t, e.J0(), NewTokenCache(TokenCacheOptions{MaxEntries: 32}))
	toks := make([]string, 8)
	for i := range toks {
		toks[i] = tok(t, K1, H0(), claims(map[string]any{"jti": fmt.Sprint(i)}))
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if _, err := run(a, bearer(toks[(g+i)%len(toks)])); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
