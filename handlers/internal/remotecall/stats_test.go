package remotecall

import (
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/cachestats"
)

// Hits, misses (absent or expired) and evictions (live entries dropped
// for room) are counted; expiry and Delete are not evictions.
func TestCacheStats(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	later := now.Add(time.Minute)
	c := NewCache[string](CacheOptions{MaxEntries: 2})
	key := func(s string) Key { return c.NewHasher().String(s).Sum() }
	a, b, d := key("a"), key("b"), key("d")

	c.Get(a, now)                // miss: absent
	c.Set(a, "a", 1, now, later) //
	c.Get(a, now)                // hit
	c.Set(b, "b", 1, now, later) //
	c.Set(d, "d", 1, now, later) // evicts a
	c.Get(a, now)                // miss: evicted
	c.Get(b, later)              // miss: expired (and dropped)
	c.Delete(d)                  // not an eviction

	want := cachestats.Stats{Hits: 1, Misses: 3, Evictions: 1, Entries: 0}
	if got := c.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
}
