package remotecall

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/cachestats"
)

// Default bounds of a Cache.
const (
	DefaultMaxEntries = 10_000
	DefaultMaxBytes   = 64 << 20
)

// CacheOptions bound a Cache. Both limits apply; zero means the default.
type CacheOptions struct {
	// MaxEntries caps the number of entries.
	MaxEntries int
	// MaxBytes caps the sum of the costs passed to Set (callers pass the
	// size of the remote response they cache).
	MaxBytes int64
}

// Key identifies a cache entry. Keys are salted SHA-256 digests, so a cache
// never holds a token, cookie or secret in the clear, and a heap dump does
// not allow offline guessing of low-entropy secrets without the salt.
type Key [sha256.Size]byte

// Cache is a bounded LRU map with an absolute expiry per entry, shared by
// the handler instances of every rule (it survives rule reloads, which
// rebuild the instances). It is safe for concurrent use.
//
// The cache has no clock: callers pass "now" and the expiry, so the expiry
// is exactly what the handler computed (bounded by a token's exp, D-09) and
// tests control time. Values must be treated as immutable once stored.
type Cache[V any] struct {
	*Keyer
	flight Flight
	mu     sync.Mutex
	items  map[Key]*list.Element
	lru    list.List // front = most recently used
	bytes  int64
	o      CacheOptions
	stats  cachestats.Counters
}

type entry[V any] struct {
	key     Key
	val     V
	cost    int64
	expires time.Time
}

// NewCache returns an empty cache.
func NewCache[V any](o CacheOptions) *Cache[V] {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	return &Cache[V]{Keyer: NewKeyer(), items: make(map[Key]*list.Element), o: o}
}

// Flight coalesces the calls whose answers go in this cache, with keys
// from its Keyer. Handlers use it for rules that do not cache too: it
// only ever joins calls that are running.
func (c *Cache[V]) Flight() *Flight { return &c.flight }

// Get returns the entry for k if it has not expired at now.
func (c *Cache[V]) Get(k Key, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		c.stats.Miss()
		var zero V
		return zero, false
	}
	e := el.Value.(*entry[V])
	if !now.Before(e.expires) {
		c.remove(el)
		c.stats.Miss()
		var zero V
		return zero, false
	}
	c.lru.MoveToFront(el)
	c.stats.Hit()
	return e.val, true
}

// Set stores v under k until expires. An entry that expires at or before
// now, or that alone exceeds MaxBytes, is not stored. Least recently used
// entries are evicted to stay within both bounds.
func (c *Cache[V]) Set(k Key, v V, cost int64, now, expires time.Time) {
	if !now.Before(expires) || cost > c.o.MaxBytes {
		return
	}
	if cost < 0 {
		cost = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
	c.items[k] = c.lru.PushFront(&entry[V]{key: k, val: v, cost: cost, expires: expires})
	c.bytes += cost
	for len(c.items) > c.o.MaxEntries || c.bytes > c.o.MaxBytes {
		c.remove(c.lru.Back())
		c.stats.Evicted(1)
	}
}

// Delete removes k, e.g. after the remote party rejected a cached token.
func (c *Cache[V]) Delete(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
}

// Len returns the number of entries, expired ones included until they are
// touched or evicted.
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

// Stats returns the cache's hit, miss and eviction counts, for metrics.
func (c *Cache[V]) Stats() cachestats.Stats { return c.stats.Stats(c.Len()) }

func (c *Cache[V]) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry[V])
	delete(c.items, e.key)
	c.bytes -= e.cost
}

// Keyer makes salted keys. Every Cache has one; code that needs keys
// without a cache (request de-duplication) makes its own.
type Keyer struct {
	salt [32]byte
	pool sync.Pool
}

// NewKeyer returns a Keyer with a fresh random salt.
func NewKeyer() *Keyer {
	k := &Keyer{}
	if _, err := rand.Read(k.salt[:]); err != nil {
		// crypto/rand does not fail on supported platforms; a fixed salt
		// would only weaken the heap-dump protection, not correctness.
		panic("remotecall: read random salt: " + err.Error())
	}
	k.pool.New = func() any { return &Hasher{h: sha256.New(), k: k} }
	return k
}

// NewHasher returns a Hasher seeded with the salt. Call Sum exactly once
// to get the key and release the Hasher.
func (k *Keyer) NewHasher() *Hasher {
	h := k.pool.Get().(*Hasher)
	h.h.Reset()
	h.h.Write(k.salt[:])
	return h
}

// Hasher builds a Key from parts. Each part is length-prefixed, so no two
// different part lists produce the same input ("a","bc" vs "ab","c").
type Hasher struct {
	h   hash.Hash
	k   *Keyer
	n   [8]byte
	buf []byte // reused so that hashing a string does not allocate
	out Key
}

// String adds a part.
func (h *Hasher) String(s string) *Hasher {
	binary.BigEndian.PutUint64(h.n[:], uint64(len(s)))
	h.h.Write(h.n[:])
	h.buf = append(h.buf[:0], s...)
	h.h.Write(h.buf)
	return h
}

// Bytes adds a part.
func (h *Hasher) Bytes(b []byte) *Hasher {
	binary.BigEndian.PutUint64(h.n[:], uint64(len(b)))
	h.h.Write(h.n[:])
	h.h.Write(b)
	return h
}

// Strings adds a list as one length-prefixed group of parts.
func (h *Hasher) Strings(list []string) *Hasher {
	binary.BigEndian.PutUint64(h.n[:], uint64(len(list)))
	h.h.Write(h.n[:])
	for _, s := range list {
		h.String(s)
	}
	return h
}

// Sum returns the key and releases the Hasher; it must not be used again.
func (h *Hasher) Sum() Key {
	h.h.Sum(h.out[:0])
	k := h.out
	if cap(h.buf) > 64<<10 {
		h.buf = nil // do not pin a buffer grown by one huge part
	}
	h.k.pool.Put(h)
	return k
}
