package idtoken

import (
	"bytes"
	"hash/maphash"
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/cachekey"
	"github.com/portcullis-authz/portcullis/handlers/internal/cachestats"
)

// DefaultCacheMaxBytes bounds the minted-token cache of one Signers, the
// size Oathkeeper gives its id_token cache.
const DefaultCacheMaxBytes = 32 << 20

const (
	cacheShards = 16
	// entryOverhead approximates the bytes of one entry beyond its value
	// and its key material: the hash, the time, the slice and string
	// headers and the map's own bookkeeping.
	entryOverhead = 96
	// evictScan bounds the entries one put visits to purge expired ones,
	// so a full cache costs O(1) per insert, not O(n).
	evictScan = 64
)

// tokenCache holds minted header values by their key material: everything
// that shapes the token (see Mutator.appendKey). An entry is found by a
// keyed fast hash of the material (hash/maphash, one random seed per
// cache) and served only if the material stored in it equals the
// request's, compared in constant time: a hash collision is a miss, never
// a token minted for other claims. It is sharded to keep lock contention
// low, bounded by bytes, and evicts expired entries first, then arbitrary
// ones (Go's map order is randomised), which is enough for a cache whose
// entries all live for the same short time.
type tokenCache struct {
	shards   [cacheShards]cacheShard
	maxShard int64
	seed     maphash.Seed
	// hash is maphash.Bytes, or a stand-in in tests that force
	// collisions.
	hash  func(seed maphash.Seed, b []byte) uint64
	stats cachestats.Counters
}

type cacheShard struct {
	mu    sync.RWMutex
	m     map[uint64]cacheEntry
	bytes int64
}

type cacheEntry struct {
	key   []byte // the key material, compared on every hit
	value string
	// until is when the entry stops being served: 90% into the token's
	// lifetime and never after its exp.
	until time.Time
}

func (e *cacheEntry) cost() int64 { return int64(len(e.key)+len(e.value)) + entryOverhead }

// cacheKey is one lookup: the key material and the cache's hash of it.
type cacheKey struct {
	mat []byte
	h   uint64
}

func newTokenCache(maxBytes int64) *tokenCache {
	c := &tokenCache{maxShard: maxBytes / cacheShards, seed: maphash.MakeSeed(), hash: maphash.Bytes}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry)
	}
	return c
}

// key hashes mat, which the caller must not change while it uses the key.
func (c *tokenCache) key(mat []byte) cacheKey { return cacheKey{mat: mat, h: c.hash(c.seed, mat)} }

func (c *tokenCache) shard(k *cacheKey) *cacheShard { return &c.shards[k.h%cacheShards] }

// get returns the cached value if it was stored under k's material and
// may still be served at now.
func (c *tokenCache) get(k *cacheKey, now time.Time) (string, bool) {
	sh := c.shard(k)
	sh.mu.RLock()
	e, ok := sh.m[k.h]
	sh.mu.RUnlock()
	// The material holds the claims and subject: compare it in time that
	// does not depend on where it first differs.
	if !ok || !cachekey.EqualBytes(e.key, k.mat) || !now.Before(e.until) {
		c.stats.Miss()
		return "", false
	}
	c.stats.Hit()
	return e.value, true
}

// put stores value under k until the given time, replacing whatever had
// k's hash (k's own stale entry or, in a collision, another token's, which
// then misses), and evicting to stay in budget. A value larger than a
// whole shard is not cached.
func (c *tokenCache) put(k *cacheKey, value string, until, now time.Time) {
	e := cacheEntry{key: k.mat, value: value, until: until}
	cost := e.cost()
	if cost > c.maxShard || !now.Before(until) {
		return
	}
	e.key = bytes.Clone(k.mat) // k.mat is the caller's buffer
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[k.h]; ok {
		sh.bytes -= old.cost()
		delete(sh.m, k.h)
	}
	visited := 0
	for ek, old := range sh.m {
		over := sh.bytes+cost > c.maxShard
		if !over && visited >= evictScan {
			break
		}
		if over || !now.Before(old.until) {
			sh.bytes -= old.cost()
			delete(sh.m, ek)
			if now.Before(old.until) {
				c.stats.Evicted(1)
			}
		}
		visited++
	}
	sh.m[k.h] = e
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
