package jwt

import (
	"crypto/sha256"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/cachekey"
	"github.com/portcullis-authz/portcullis/handlers/internal/cachestats"
	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
)

// Defaults for TokenCacheOptions.
const (
	DefaultTokenCacheEntries = 10000
	DefaultTokenCacheBytes   = 32 << 20
	DefaultTokenCacheTTL     = 5 * time.Minute
	tokenCacheShards         = 32
	// entryOverhead is what an entry costs besides its token, for
	// MaxBytes: the entry, its map slot and a typical claims map.
	entryOverhead = 1 << 10
)

// TokenCacheOptions size a TokenCache.
type TokenCacheOptions struct {
	// MaxEntries bounds the number of tokens remembered (default 10000).
	MaxEntries int
	// MaxBytes bounds the memory the entries hold, each counted as its
	// token's length plus a fixed 1 KiB for the entry and its claims
	// (default 32 MiB). The token is kept to compare it on every hit.
	MaxBytes int64
	// TTL bounds how long a verified token is trusted without verifying it
	// again, whatever its exp (default 5m). A key removed from its JWKS
	// stops being trusted on the next refresh anyway: entries remember the
	// key set that verified them.
	TTL time.Duration
}

// TokenCache remembers verified tokens so a token is not verified again on
// every request. It is shared by all jwt authenticators. An entry is found
// by a keyed fast hash (hash/maphash, with a random seed per cache) of the
// rule's config digest and the token, and used only if both equal the
// ones stored in it, the token compared in constant time: a hash
// collision is a miss, so two tokens, or two rules with different
// requirements, never share a result. Only successes are cached. It is
// safe for concurrent use; memory is bounded by MaxEntries and MaxBytes.
type TokenCache struct {
	ttl       time.Duration
	perShard  int
	shardCost int64
	seed      maphash.Seed
	// hash is sum, or a stand-in in tests that force collisions.
	hash   func(c *TokenCache, cfg *[sha256.Size]byte, tok string) uint64
	shards [tokenCacheShards]tokenShard
	stats  cachestats.Counters
}

type tokenShard struct {
	mu   sync.RWMutex
	m    map[uint64]*entry
	cost int64
}

// cacheKey names a token verified under one rule's config. h is the
// TokenCache's hash of both, 0 until the cache computed it.
type cacheKey struct {
	cfg *[sha256.Size]byte
	tok string
	h   uint64
}

// entry is one verified token. Everything in it is read-only once stored.
type entry struct {
	cfg     [sha256.Size]byte // the digest of the rule config that verified it
	tok     string            // the token, compared on every hit
	subject string
	claims  map[string]any
	times   times
	until   time.Time // min(exp, stored + TTL)
	src     *jwks.Source
	set     *jwks.Set // the set whose key verified the token
}

func (e *entry) cost() int64 { return int64(len(e.tok)) + entryOverhead }

// NewTokenCache returns an empty cache.
func NewTokenCache(o TokenCacheOptions) *TokenCache {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultTokenCacheEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultTokenCacheBytes
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTokenCacheTTL
	}
	c := &TokenCache{
		ttl:       o.TTL,
		perShard:  max(1, o.MaxEntries/tokenCacheShards),
		shardCost: max(1, o.MaxBytes/tokenCacheShards),
		seed:      maphash.MakeSeed(),
		hash:      (*TokenCache).sum,
	}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*entry)
	}
	return c
}

// sum is the keyed hash of a config digest and a token.
func (c *TokenCache) sum(cfg *[sha256.Size]byte, tok string) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	h.Write(cfg[:])
	h.WriteString(tok)
	return h.Sum64()
}

func (c *TokenCache) shard(k *cacheKey) *tokenShard {
	if k.h == 0 {
		k.h = c.hash(c, k.cfg, k.tok) | 1 // never 0, which means "not yet"
	}
	return &c.shards[k.h%tokenCacheShards]
}

// matches reports whether e is the entry of k. The config digest is no
// secret; the token is compared in constant time.
func (e *entry) matches(k *cacheKey) bool {
	return e.cfg == *k.cfg && cachekey.Equal(e.tok, k.tok)
}

// get returns the entry for k if it is still usable at now: not past its
// cache deadline and its key set still current. Time claims are checked by
// the caller.
func (c *TokenCache) get(k *cacheKey, now time.Time) *entry {
	sh := c.shard(k)
	sh.mu.RLock()
	e := sh.m[k.h]
	sh.mu.RUnlock()
	if e == nil || !e.matches(k) {
		c.stats.Miss()
		return nil
	}
	if !now.Before(e.until) || e.src.Current() != e.set {
		sh.mu.Lock()
		if sh.m[k.h] == e {
			sh.remove(k.h, e)
		}
		sh.mu.Unlock()
		c.stats.Miss()
		return nil
	}
	c.stats.Hit()
	return e
}

// put stores e for k, replacing whatever had k's hash (k's own stale
// entry or, in a collision, another token's, which then misses). When the
// shard is full it evicts expired entries, or failing that arbitrary ones
// (Go's map order is random). An entry larger than a shard's share of
// MaxBytes is not stored.
func (c *TokenCache) put(k *cacheKey, e *entry, now time.Time) {
	e.until = now.Add(c.ttl)
	if e.times.hasExp {
		if exp := numericTime(e.times.exp); exp.Before(e.until) {
			e.until = exp
		}
	}
	// The token may be part of a larger buffer of the request; keep only
	// its bytes.
	e.cfg, e.tok = *k.cfg, strings.Clone(k.tok)
	if e.cost() > c.shardCost {
		return
	}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.m[k.h]; ok {
		sh.remove(k.h, old)
	}
	full := func() bool { return len(sh.m) >= c.perShard || sh.cost+e.cost() > c.shardCost }
	if full() {
		for key, old := range sh.m {
			if !now.Before(old.until) {
				sh.remove(key, old)
			}
		}
		for key, old := range sh.m {
			if !full() {
				break
			}
			sh.remove(key, old)
			c.stats.Evicted(1)
		}
	}
	sh.m[k.h] = e
	sh.cost += e.cost()
}

func (sh *tokenShard) remove(h uint64, e *entry) {
	delete(sh.m, h)
	sh.cost -= e.cost()
}

// Stats returns the cache's hit, miss and eviction counts, for metrics.
// Evictions are live tokens dropped because their shard was full.
func (c *TokenCache) Stats() cachestats.Stats { return c.stats.Stats(c.Len()) }

// Len returns the number of cached tokens.
func (c *TokenCache) Len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}
