// Package cachestats counts the hits, misses and evictions of the
// handlers' caches, for metrics. The caches only count (three atomic
// adds); the metrics code reads the counts at scrape time, so handlers
// stay free of any metrics library.
package cachestats

import "sync/atomic"

// Stats is a cache's counts since it was made.
type Stats struct {
	// Hits counts lookups answered from the cache.
	Hits uint64
	// Misses counts lookups that found nothing usable (absent or
	// expired).
	Misses uint64
	// Evictions counts live entries dropped to stay within the cache's
	// bounds (not expiry, not explicit deletes).
	Evictions uint64
	// Entries is the number of entries held now.
	Entries int
}

// Counters are a cache's counts. The zero value is ready to use and safe
// for concurrent use.
type Counters struct {
	hits, misses, evictions atomic.Uint64
}

// Hit counts a lookup answered from the cache.
func (c *Counters) Hit() { c.hits.Add(1) }

// Miss counts a lookup that found nothing usable.
func (c *Counters) Miss() { c.misses.Add(1) }

// Lookup counts a hit when ok, else a miss.
func (c *Counters) Lookup(ok bool) {
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
}

// Evicted counts n entries dropped to make room.
func (c *Counters) Evicted(n int) { c.evictions.Add(uint64(n)) }

// Stats returns the counts, with entries as given.
func (c *Counters) Stats(entries int) Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Entries: entries}
}
