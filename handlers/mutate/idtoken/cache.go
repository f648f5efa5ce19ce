package idtoken

import (
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/cachestats"
)

// DefaultCacheMaxBytes bounds the minted-token cache of one Signers, the
// size Oathkeeper gives its id_token cache.
const DefaultCacheMaxBytes = 32 << 20

const (
	cacheShards = 16
	// entryOverhead approximates the bytes of one entry beyond its value:
	// the 32-byte key, the time and the map's own bookkeeping.
	entryOverhead = 96
	// evictScan bounds the entries one put visits to purge expired ones,
	// so a full cache costs O(1) per insert, not O(n).
	evictScan = 64
)

// tokenCache holds minted header values by a sha256 of everything that
// shapes the token. It is sharded to keep lock contention low, bounded by
// bytes, and evicts expired entries first, then arbitrary ones (Go's map
// order is randomised), which is enough for a cache whose entries all
// live for the same short time.
type tokenCache struct {
	shards   [cacheShards]cacheShard
	maxShard int64
	stats    cachestats.Counters
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[[32]byte]cacheEntry
	bytes int64
}

type cacheEntry struct {
	value string
	// until is when the entry stops being served: 90% into the token's
	// lifetime and never after its exp.
	until time.Time
}

func newTokenCache(maxBytes int64) *tokenCache {
	c := &tokenCache{maxShard: maxBytes / cacheShards}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry)
	}
	return c
}

func (c *tokenCache) shard(k *[32]byte) *cacheShard { return &c.shards[k[0]%cacheShards] }

// get returns the cached value if it may still be served at now.
func (c *tokenCache) get(k [32]byte, now time.Time) (string, bool) {
	sh := c.shard(&k)
	sh.mu.RLock()
	e, ok := sh.m[k]
	sh.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		c.stats.Miss()
		return "", false
	}
	c.stats.Hit()
	return e.value, true
}

// put stores value until the given time, evicting to stay in budget. A
// value larger than a whole shard is not cached.
func (c *tokenCache) put(k [32]byte, value string, until, now time.Time) {
	cost := int64(len(value)) + entryOverhead
	if cost > c.maxShard || !now.Before(until) {
		return
	}
	sh := c.shard(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[k]; ok {
		sh.bytes -= int64(len(old.value)) + entryOverhead
		delete(sh.m, k)
	}
	visited := 0
	for ek, e := range sh.m {
		over := sh.bytes+cost > c.maxShard
		if !over && visited >= evictScan {
			break
		}
		if over || !now.Before(e.until) {
			sh.bytes -= int64(len(e.value)) + entryOverhead
			delete(sh.m, ek)
			if now.Before(e.until) {
				c.stats.Evicted(1)
			}
		}
		visited++
	}
	sh.m[k] = cacheEntry{value: value, until: until}
	sh.bytes += cost
}

// CacheStats returns the minted-token cache's hit, miss and eviction
// counts, for metrics.
func (s *Signers) CacheStats() cachestats.Stats { return s.cache.stats.Stats(s.cache.len()) }

// len returns the number of entries.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
