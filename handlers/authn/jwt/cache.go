package jwt

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/cachestats"
	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
)

// Defaults for TokenCacheOptions.
const (
	DefaultTokenCacheEntries = 10000
	DefaultTokenCacheTTL     = 5 * time.Minute
	tokenCacheShards         = 32
)

// TokenCacheOptions size a TokenCache.
type TokenCacheOptions struct {
	// MaxEntries bounds the number of tokens remembered (default 10000).
	MaxEntries int
	// TTL bounds how long a verified token is trusted without verifying it
	// again, whatever its exp (default 5m). A key removed from its JWKS
	// stops being trusted on the next refresh anyway: entries remember the
	// key set that verified them.
	TTL time.Duration
}

// TokenCache remembers verified tokens so a token is not verified again on
// every request. It is shared by all jwt authenticators; entries are keyed
// by sha256(token) and a hash of the rule's config, so two rules with
// different requirements never share a result. Only successes are cached.
// It is safe for concurrent use; memory is bounded by MaxEntries.
type TokenCache struct {
	ttl      time.Duration
	perShard int
	shards   [tokenCacheShards]tokenShard
	stats    cachestats.Counters
}

type tokenShard struct {
	mu sync.RWMutex
	m  map[cacheKey]*entry
}

// cacheKey is the config hash and the token hash.
type cacheKey struct {
	cfg, tok [sha256.Size]byte
}

// entry is one verified token. Everything in it is read-only once stored.
type entry struct {
	subject string
	claims  map[string]any
	times   times
	until   time.Time // min(exp, stored + TTL)
	src     *jwks.Source
	set     *jwks.Set // the set whose key verified the token
}

// NewTokenCache returns an empty cache.
func NewTokenCache(o TokenCacheOptions) *TokenCache {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultTokenCacheEntries
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTokenCacheTTL
	}
	c := &TokenCache{ttl: o.TTL, perShard: max(1, o.MaxEntries/tokenCacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]*entry)
	}
	return c
}

func (c *TokenCache) shard(k *cacheKey) *tokenShard {
	return &c.shards[int(k.tok[0])%tokenCacheShards]
}

// get returns the entry for k if it is still usable at now: not past its
// cache deadline and its key set still current. Time claims are checked by
// the caller.
func (c *TokenCache) get(k *cacheKey, now time.Time) *entry {
	sh := c.shard(k)
	sh.mu.RLock()
	e := sh.m[*k]
	sh.mu.RUnlock()
	if e == nil {
		c.stats.Miss()
		return nil
	}
	if !now.Before(e.until) || e.src.Current() != e.set {
		sh.mu.Lock()
		if sh.m[*k] == e {
			delete(sh.m, *k)
		}
		sh.mu.Unlock()
		c.stats.Miss()
		return nil
	}
	c.stats.Hit()
	return e
}

// put stores e, evicting expired entries (or, failing that, an arbitrary
// one: Go's map order is random) when the shard is full.
func (c *TokenCache) put(k *cacheKey, e *entry, now time.Time) {
	e.until = now.Add(c.ttl)
	if e.times.hasExp {
		if exp := numericTime(e.times.exp); exp.Before(e.until) {
			e.until = exp
		}
	}
	sh := c.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.m[*k]; !ok && len(sh.m) >= c.perShard {
		evicted := false
		for key, old := range sh.m {
			if !now.Before(old.until) {
				delete(sh.m, key)
				evicted = true
			}
		}
		if !evicted {
			for key := range sh.m {
				delete(sh.m, key)
				c.stats.Evicted(1)
				break
			}
		}
	}
	sh.m[*k] = e
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
