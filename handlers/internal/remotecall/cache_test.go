package remotecall

import (
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
