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

// collide makes every key of tc hash alike, as a collision of the keyed
// hash would.
func collide(tc *TokenCache) {
	tc.hash = func(*TokenCache, *[32]byte, string) uint64 { return 42 }
}

// TestTokenCacheCollisionIsAMiss: two tokens (or one token under two rule
// configs) whose keys hash alike never get each other's result; the
// second is verified and replaces the first, which then misses.
func TestTokenCacheCollisionIsAMiss(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	alice := tok(t, K1, H0(), claims(map[string]any{"sub": "alice"}))
	bob := tok(t, K1, H0(), claims(map[string]any{"sub": "bob"}))
	otherAud := e.J0()
	otherAud.TargetAudience = []string{"api://other"}
	tests := []struct {
		name string
		// first and second authenticate tokens in turn, with the
		// configs named by cfg1 and cfg2.
		first, second string
		cfg2          Config
		wantSubject   string
		wantReason    string
	}{
		{"another token", alice, bob, e.J0(), "bob", ""},
		{"the same token under another rule", alice, alice, otherAud, "", ReasonAudienceMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := NewTokenCache(TokenCacheOptions{})
			collide(tc)
			a1, a2 := e.auth(t, e.J0(), tc), e.auth(t, tt.cfg2, tc)
			if s, err := run(a1, bearer(tt.first)); err != nil || s.Subject != "alice" {
				t.Fatalf("first token: %q, %v", s.Subject, err)
			}
			s, err := run(a2, bearer(tt.second))
			if tt.wantReason != "" {
				checkOutcome(t, tt.wantReason, s, err, tt.second)
			} else if err != nil || s.Subject != tt.wantSubject {
				t.Fatalf("colliding token: subject %q, %v; want %q", s.Subject, err, tt.wantSubject)
			}
			if st := tc.Stats(); st.Hits != 0 || st.Misses != 2 {
				t.Fatalf("hits %d, misses %d; want 0, 2", st.Hits, st.Misses)
			}
		})
	}
}

// TestTokenCacheCountsHitsAndMisses: a repeated token hits, a new one
// misses; a token that collides with a cached one replaces it.
func TestTokenCacheCountsHitsAndMisses(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	tc := NewTokenCache(TokenCacheOptions{})
	collide(tc)
	a := e.auth(t, e.J0(), tc)
	alice := tok(t, K1, H0(), claims(map[string]any{"sub": "alice"}))
	bob := tok(t, K1, H0(), claims(map[string]any{"sub": "bob"}))
	for i, step := range []struct {
		raw, sub     string
		hits, misses uint64
	}{
		{alice, "alice", 0, 1},
		{alice, "alice", 1, 1},
		{bob, "bob", 1, 2}, // collides: bob replaces alice
		{bob, "bob", 2, 2},
		{alice, "alice", 2, 3},
	} {
		s, err := run(a, bearer(step.raw))
		if err != nil || s.Subject != step.sub {
			t.Fatalf("step %d: subject %q, %v; want %q", i, s.Subject, err, step.sub)
		}
		if st := tc.Stats(); st.Hits != step.hits || st.Misses != step.misses {
			t.Fatalf("step %d: hits %d, misses %d; want %d, %d", i, st.Hits, st.Misses, step.hits, step.misses)
		}
	}
	if n := tc.Len(); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
}

// TestTokenCacheIsBoundedByBytes: the tokens kept for comparison count
// against MaxBytes; an entry larger than a shard's share is not stored,
// and the token is still accepted.
func TestTokenCacheIsBoundedByBytes(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	raw := func(i int) string { return tok(t, K1, H0(), claims(map[string]any{"jti": fmt.Sprint(i)})) }
	cost := int64(len(raw(100)) + entryOverhead) // every jti below has 3 digits
	tests := []struct {
		name     string
		maxBytes int64
		maxLen   int
	}{
		{"one entry per shard", tokenCacheShards * (cost + cost/2), tokenCacheShards},
		{"no room for any entry", tokenCacheShards * (cost - 1), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := NewTokenCache(TokenCacheOptions{MaxBytes: tt.maxBytes})
			a := e.auth(t, e.J0(), tc)
			for i := 100; i < 400; i++ {
				if _, err := run(a, bearer(raw(i))); err != nil {
					t.Fatal(err)
				}
			}
			if n := tc.Len(); n > tt.maxLen || (tt.maxLen > 0 && n == 0) {
				t.Fatalf("Len = %d, want 1..%d", n, tt.maxLen)
			}
			for i := range tc.shards {
				if sh := &tc.shards[i]; sh.cost > tc.shardCost || sh.cost != int64(len(sh.m))*cost {
					t.Fatalf("shard %d: cost %d for %d entries, limit %d", i, sh.cost, len(sh.m), tc.shardCost)
				}
			}
		})
	}
}
