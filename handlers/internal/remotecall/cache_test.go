package remotecall

import (
	"hash/maphash"
	"strings"
	"testing"
	"time"
)

func TestCacheBoundsAndExpiry(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	later := now.Add(time.Minute)
	key := func(c *Cache[string], s string) Key { return c.NewHasher().String(s).Sum() }

	t.Run("entry is served until its expiry", func(t *testing.T) {
		c := NewCache[string](CacheOptions{})
		k := key(c, "a")
		c.Set(k, "v", 1, now, later)
		if v, ok := c.Get(k, later.Add(-time.Nanosecond)); !ok || v != "v" {
			t.Fatalf("Get before expiry = %q, %v", v, ok)
		}
		if _, ok := c.Get(k, later); ok {
			t.Fatal("entry served at its expiry")
		}
		if c.Len() != 0 {
			t.Fatalf("expired entry kept: Len = %d", c.Len())
		}
	})
	t.Run("already expired entry is not stored", func(t *testing.T) {
		c := NewCache[string](CacheOptions{})
		c.Set(key(c, "a"), "v", 1, now, now)
		if c.Len() != 0 {
			t.Fatal("stored an expired entry")
		}
	})
	t.Run("least recently used entry is evicted at MaxEntries", func(t *testing.T) {
		c := NewCache[string](CacheOptions{MaxEntries: 2})
		a, b, d := key(c, "a"), key(c, "b"), key(c, "d")
		c.Set(a, "a", 1, now, later)
		c.Set(b, "b", 1, now, later)
		c.Get(a, now) // a is now more recent than b
		c.Set(d, "d", 1, now, later)
		if _, ok := c.Get(b, now); ok {
			t.Fatal("b survived eviction")
		}
		if _, ok := c.Get(a, now); !ok {
			t.Fatal("a was evicted")
		}
	})
	t.Run("MaxBytes bounds the sum of costs", func(t *testing.T) {
		c := NewCache[string](CacheOptions{MaxBytes: 100})
		c.Set(key(c, "a"), "a", 60, now, later)
		c.Set(key(c, "b"), "b", 60, now, later)
		if c.Len() != 1 {
			t.Fatalf("Len = %d, want 1", c.Len())
		}
		c.Set(key(c, "huge"), "h", 101, now, later)
		if _, ok := c.Get(key(c, "huge"), now); ok {
			t.Fatal("stored an entry larger than MaxBytes")
		}
	})
	t.Run("replacing an entry keeps the byte count right", func(t *testing.T) {
		c := NewCache[string](CacheOptions{MaxBytes: 100})
		k := key(c, "a")
		for i := 0; i < 10; i++ {
			c.Set(k, "a", 90, now, later)
		}
		if v, ok := c.Get(k, now); !ok || v != "a" {
			t.Fatal("replaced entry lost")
		}
	})
	t.Run("Delete removes an entry", func(t *testing.T) {
		c := NewCache[string](CacheOptions{})
		k := key(c, "a")
		c.Set(k, "a", 1, now, later)
		c.Delete(k)
		if _, ok := c.Get(k, now); ok {
			t.Fatal("entry survived Delete")
		}
	})
}

func TestKeysAreLengthPrefixedAndSalted(t *testing.T) {
	c := NewCache[int](CacheOptions{})
	if c.NewHasher().String("a").String("bc").Sum() == c.NewHasher().String("ab").String("c").Sum() {
		t.Fatal(`("a","bc") and ("ab","c") share a key`)
	}
	if c.NewHasher().Strings([]string{"a", "b"}).Sum() == c.NewHasher().Strings([]string{"a"}).String("b").Sum() {
		t.Fatal("a list and loose parts share a key")
	}
	if c.NewHasher().String("x").Sum() != c.NewHasher().String("x").Sum() {
		t.Fatal("the same parts give different keys")
	}
	other := NewCache[int](CacheOptions{})
	if c.NewHasher().String("x").Sum() == other.NewHasher().String("x").Sum() {
		t.Fatal("two caches share a salt")
	}
}

// TestCacheCollisionIsAMiss: keys whose hashes collide (forced here) never
// get each other's entry, through Get or Lookup; Set replaces the
// colliding entry and Delete leaves it alone.
func TestCacheCollisionIsAMiss(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	later := now.Add(time.Minute)
	c := NewCache[string](CacheOptions{})
	c.hash = func(maphash.Seed, []byte) uint64 { return 7 }
	alice, bob := c.NewHasher().String("token-alice").Sum(), c.NewHasher().String("token-bob").Sum()
	get := func(tok string) (string, bool) { return c.Get(c.NewHasher().String(tok).Sum(), now) }
	lookup := func(tok string) (string, bool) {
		h := c.NewHasher().String(tok)
		defer h.Release()
		return c.Lookup(h, now)
	}
	c.Set(alice, "alice", 1, now, later)
	for i, step := range []struct {
		name         string
		do           func()
		tok, want    string
		hits, misses uint64
	}{
		{"Get of the stored key hits", nil, "token-alice", "alice", 1, 0},
		{"Get of a colliding key misses", nil, "token-bob", "", 1, 1},
		{"Delete of a colliding key keeps the entry", func() { c.Delete(bob) }, "token-alice", "alice", 2, 1},
		{"Set of a colliding key replaces it", func() { c.Set(bob, "bob", 1, now, later) }, "token-alice", "", 2, 2},
		{"and the new key hits", nil, "token-bob", "bob", 3, 2},
	} {
		if step.do != nil {
			step.do()
		}
		for _, find := range []func(string) (string, bool){get, lookup} {
			v, ok := find(step.tok)
			if v != step.want || ok != (step.want != "") {
				t.Fatalf("%s: got %q, %v; want %q", step.name, v, ok, step.want)
			}
		}
		if st := c.Stats(); st.Hits != 2*step.hits || st.Misses != 2*step.misses {
			t.Fatalf("step %d %s: hits %d, misses %d; want %d, %d", i, step.name, st.Hits, st.Misses, 2*step.hits, 2*step.misses)
		}
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d, want 1", c.Len())
	}
}

// TestCacheCountsKeyMaterial: the key material, which entries hold for
// the comparison, counts against MaxBytes.
func TestCacheCountsKeyMaterial(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := NewCache[string](CacheOptions{MaxBytes: 100})
	long := c.NewHasher().String(strings.Repeat("t", 92)).Sum() // 100 bytes with its length prefix
	c.Set(long, "v", 1, now, now.Add(time.Minute))
	if c.Len() != 0 {
		t.Fatal("stored an entry whose cost with its key is above MaxBytes")
	}
	c.Set(long, "v", 0, now, now.Add(time.Minute))
	if _, ok := c.Get(long, now); !ok {
		t.Fatal("an entry of exactly MaxBytes was not stored")
	}
}

// TestLookupDoesNotAllocate: the hit path of Lookup allocates nothing.
func TestLookupDoesNotAllocate(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	c := NewCache[string](CacheOptions{})
	tok := strings.Repeat("t", 1000)
	c.Set(c.NewHasher().String(tok).Sum(), "v", 1, now, now.Add(time.Minute))
	h := c.NewHasher().String(tok)
	defer h.Release()
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := c.Lookup(h, now); !ok {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("Lookup hit allocates %v times", allocs)
	}
}

// TestSecretPartsAreDigested: a Secret part never appears in the key
// material an entry keeps; equal secrets give equal keys, different ones
// different keys, and a secret is not the same part as the string.
func TestSecretPartsAreDigested(t *testing.T) {
	c := NewCache[int](CacheOptions{})
	const secret = "client-secret-0123456789"
	k := c.NewHasher().String("id").Secret(secret).Sum()
	if strings.Contains(k.mat, secret) {
		t.Fatal("the key material holds the secret in the clear")
	}
	for _, tt := range []struct {
		name  string
		other Key
		same  bool
	}{
		{"same secret", c.NewHasher().String("id").Secret(secret).Sum(), true},
		{"other secret", c.NewHasher().String("id").Secret(secret + "x").Sum(), false},
		{"secret as a string", c.NewHasher().String("id").String(secret).Sum(), false},
		{"same secret, other cache", NewCache[int](CacheOptions{}).NewHasher().String("id").Secret(secret).Sum(), false},
	} {
		if (k.mat == tt.other.mat) != tt.same {
			t.Errorf("%s: same key material = %v, want %v", tt.name, !tt.same, tt.same)
		}
	}
}
