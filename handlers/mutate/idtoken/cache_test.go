package idtoken

import (
	"fmt"
	"hash/maphash"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestCacheReusesTokenUntil90PercentOfTTL(t *testing.T) {
	clk := newClock()
	s := NewSigners(Options{Now: clk.Now})
	m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"),
		TTL: pipeline.Duration(10 * time.Minute), Claims: `{"aud":"svc"}`}, s)

	first := bearer(t, mutate(t, m, "alice", nil))
	clk.Advance(9*time.Minute - time.Second)
	if got := bearer(t, mutate(t, m, "alice", nil)); got != first {
		t.Fatal("token re-minted before 90% of ttl")
	}
	clk.Advance(time.Second) // exactly 90%
	second := bearer(t, mutate(t, m, "alice", nil))
	if second == first {
		t.Fatal("token served after 90% of ttl")
	}
	claims := verify(t, s, clk, second, testIssuer)
	if !claims.IssuedAt().Equal(clk.Now()) {
		t.Errorf("re-minted iat = %v, want %v", claims.IssuedAt(), clk.Now())
	}
}

func TestCacheDisabledMintsEveryTime(t *testing.T) {
	off := false
	s := NewSigners(Options{})
	m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"), Cache: CacheConfig{Enabled: &off}}, s)
	if a, b := bearer(t, mutate(t, m, "alice", nil)), bearer(t, mutate(t, m, "alice", nil)); a == b {
		t.Fatal("cache disabled but token reused")
	}
	if n := s.cache.len(); n != 0 {
		t.Errorf("%d cache entries with cache disabled", n)
	}
}

// TestCacheKeyCoversEveryInput is SECURITY_CASES F-09: any change to what
// shapes the token gives a different token; identical inputs share one,
// across rules too.
func TestCacheKeyCoversEveryInput(t *testing.T) {
	ecdsaURL, idtURL := fixtureURL(t, "jwks-ecdsa.json"), fixtureURL(t, "jwks-idt.json")
	base := Config{IssuerURL: testIssuer, JWKSURL: ecdsaURL, Claims: `{"aud":{{ jsonQuote .Extra.aud }},"groups":{{ jsonQuote .Extra.groups }}}`}
	baseExtra := map[string]any{"aud": "svc-a", "groups": []any{"users"}}
	tests := []struct {
		name     string
		edit     func(c *Config)
		subject  string
		extra    map[string]any
		wantSame bool
	}{
		{name: "identical inputs in another rule", wantSame: true},
		{name: "other subject", subject: "bob"},
		{name: "other groups", extra: map[string]any{"aud": "svc-a", "groups": []any{"admins"}}},
		{name: "other audience", extra: map[string]any{"aud": "svc-b", "groups": []any{"users"}}},
		{name: "other issuer", edit: func(c *Config) { c.IssuerURL = "https://other.test/" }},
		{name: "other ttl", edit: func(c *Config) { c.TTL = pipeline.Duration(time.Hour) }},
		{name: "other key set", edit: func(c *Config) { c.JWKSURL = idtURL }},
		{name: "other claims template", edit: func(c *Config) { c.Claims = `{"aud":{{ jsonQuote .Extra.aud }}}` }},
		{name: "other header", edit: func(c *Config) { c.Header = "X-Id-Token" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSigners(Options{})
			m1 := newMutator(t, base, s)
			want := mutate(t, m1, "alice", baseExtra)

			c := base
			if tt.edit != nil {
				tt.edit(&c)
			}
			subject, extra := "alice", baseExtra
			if tt.subject != "" {
				subject = tt.subject
			}
			if tt.extra != nil {
				extra = tt.extra
			}
			got := mutate(t, newMutator(t, c, s), subject, extra)
			tokOf := func(s *pipeline.Session) string {
				for _, v := range s.Header {
					return strings.TrimPrefix(v[0], "Bearer ")
				}
				return ""
			}
			if same := tokOf(got) == tokOf(want); same != tt.wantSame {
				t.Errorf("same token = %v, want %v", same, tt.wantSame)
			}
		})
	}
}

func TestReuseUntilNeverReachesExp(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
		ttl  time.Duration
		want time.Time
	}{
		{"90% of ttl", time.Unix(1000, 0), 10 * time.Minute, time.Unix(1540, 0)},
		{"capped at exp truncated to seconds", time.Unix(1000, 900e6), 1500 * time.Millisecond, time.Unix(1002, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := tt.now.Add(tt.ttl).Unix()
			if got := reuseUntil(tt.now, tt.ttl, exp); !got.Equal(tt.want) {
				t.Errorf("reuseUntil = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTokenCacheStaysWithinBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	const budget = 16 << 10
	c := newTokenCache(budget)
	value := strings.Repeat("v", 200)
	for i := 0; i < 2000; i++ {
		k := c.key(fmt.Appendf(nil, "k%d", i))
		c.put(&k, value, now.Add(time.Minute), now)
	}
	var total int64
	for i := range c.shards {
		if b := c.shards[i].bytes; b > c.maxShard {
			t.Errorf("shard %d holds %d bytes, budget %d", i, b, c.maxShard)
		}
		total += c.shards[i].bytes
	}
	if total > budget || c.len() == 0 {
		t.Errorf("cache holds %d bytes in %d entries, budget %d", total, c.len(), budget)
	}
	last := c.key([]byte("k1999"))
	if v, ok := c.get(&last, now); !ok || v != value {
		t.Error("newest entry was evicted")
	}
}

func TestTokenCachePurgesExpiredEntries(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTokenCache(1 << 20)
	// key returns a key in shard i%cacheShards, so every shard is used.
	c.hash = func(_ maphash.Seed, b []byte) uint64 { return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 }
	key := func(tag byte, i int) *cacheKey { k := c.key([]byte{byte(i), tag, byte(i >> 8)}); return &k }
	for i := 0; i < 32; i++ {
		c.put(key('o', i), "v", now.Add(time.Second), now)
	}
	later := now.Add(time.Minute)
	if _, ok := c.get(key('o', 0), later); ok {
		t.Fatal("expired entry served")
	}
	for i := 0; i < cacheShards; i++ {
		c.put(key('n', i), "v", later.Add(time.Second), later)
	}
	if n := c.len(); n != cacheShards {
		t.Errorf("%d entries, want only the %d live ones", n, cacheShards)
	}
	// A value larger than a shard, or already expired, is not stored.
	c.put(key('h', 0), strings.Repeat("x", 1<<20), later.Add(time.Second), later)
	c.put(key('d', 0), "v", later, later)
	if n := c.len(); n != cacheShards {
		t.Errorf("%d entries after uncacheable puts", n)
	}
}

// TestCacheHashCollisionIsAMiss forces every key onto one hash: a request
// whose subject or claims differ from the cached token's must miss and get
// its own token, never the other one; the same inputs still hit.
func TestCacheHashCollisionIsAMiss(t *testing.T) {
	clk := newClock()
	s := NewSigners(Options{Now: clk.Now})
	s.cache.hash = func(maphash.Seed, []byte) uint64 { return 42 }
	m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"),
		Claims: `{"aud":"svc","tenant":"{{ print .Extra.tenant }}"}`}, s)
	acme, other := map[string]any{"tenant": "acme"}, map[string]any{"tenant": "other"}
	steps := []struct {
		subject          string
		extra            map[string]any
		wantHits, misses uint64
	}{
		{"alice", acme, 0, 1},
		{"alice", acme, 1, 1},
		{"bob", acme, 1, 2},   // same hash, other subject
		{"bob", other, 1, 3},  // same hash, other claims
		{"bob", other, 2, 3},  // its own token, cached
		{"alice", acme, 2, 4}, // replaced by the colliding entry
	}
	for i, st := range steps {
		tok := verify(t, s, clk, bearer(t, mutate(t, m, st.subject, st.extra)), testIssuer)
		if tok.Subject() != st.subject {
			t.Fatalf("step %d: token for subject %q, want %q", i, tok.Subject(), st.subject)
		}
		if tenant, _ := tok.Get("tenant"); tenant != st.extra["tenant"] {
			t.Fatalf("step %d: token for tenant %v, want %v", i, tenant, st.extra["tenant"])
		}
		if got := s.CacheStats(); got.Hits != st.wantHits || got.Misses != st.misses {
			t.Fatalf("step %d: %d hits, %d misses, want %d, %d", i, got.Hits, got.Misses, st.wantHits, st.misses)
		}
	}
	if n := s.cache.len(); n != 1 {
		t.Errorf("%d entries under one hash, want 1", n)
	}
}

// TestTokenCacheComparesKeyMaterial: an entry is served only for the
// material it was stored under, whatever the hash says, and the stored
// material is a copy, not the caller's (pooled) buffer.
func TestTokenCacheComparesKeyMaterial(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTokenCache(1 << 20)
	c.hash = func(maphash.Seed, []byte) uint64 { return 7 }
	buf := []byte("key-a")
	ka := c.key(buf)
	c.put(&ka, "token-a", now.Add(time.Minute), now)
	copy(buf, "key-b") // the caller reuses its buffer
	for _, tt := range []struct {
		mat    string
		wantOK bool
	}{{"key-a", true}, {"key-b", false}, {"key-", false}, {"key-a\x00", false}, {"", false}} {
		k := c.key([]byte(tt.mat))
		if v, ok := c.get(&k, now); ok != tt.wantOK || ok && v != "token-a" {
			t.Errorf("get(%q) = %q, %v, want ok %v", tt.mat, v, ok, tt.wantOK)
		}
	}
}
