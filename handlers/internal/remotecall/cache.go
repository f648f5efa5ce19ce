package remotecall

import (
	"container/list"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"
	"unsafe"

	"github.com/portcullis-authz/portcullis/handlers/internal/cachekey"
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

// Key identifies a cache entry: its key material, the length-prefixed
// parts given to a Hasher (the credential among them), and a keyed fast
// hash of it (hash/maphash, with a random seed per Keyer). The hash finds
// the entry; the material stored in it is compared in constant time on
// every hit, so a hash collision is a miss, never another credential's
// answer, and no timing reveals how much of a credential matched. The
// material is held in the entry, so MaxBytes counts it.
type Key struct {
	h   uint64
	mat string
}

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
	items  map[uint64]*list.Element // by Key.h
	lru    list.List                // front = most recently used
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
	return &Cache[V]{Keyer: NewKeyer(), items: make(map[uint64]*list.Element), o: o}
}

// Flight coalesces the calls whose answers go in this cache, with keys
// from its Keyer. Handlers use it for rules that do not cache too: it
// only ever joins calls that are running.
func (c *Cache[V]) Flight() *Flight { return &c.flight }

// Get returns the entry for k if it has not expired at now.
func (c *Cache[V]) Get(k Key, now time.Time) (V, bool) {
	return c.get(k.h, k.mat, now)
}

// Lookup is Get for the key h would Sum to, without building it: the hit
// path allocates nothing. h stays usable; the caller still calls Sum
// (for the key of the call and of Set) or Release.
func (c *Cache[V]) Lookup(h *Hasher, now time.Time) (V, bool) {
	return c.get(h.k.sum(h.buf), bytesString(h.buf), now)
}

func (c *Cache[V]) get(h uint64, mat string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[h]
	var e *entry[V]
	if ok {
		e = el.Value.(*entry[V])
	}
	if !ok || !cachekey.Equal(e.key.mat, mat) {
		c.stats.Miss()
		var zero V
		return zero, false
	}
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

// Set stores v under k until expires, replacing an entry whose key hashes
// alike. Its cost is the given one (callers pass the size of the remote
// response) plus the size of the key material. An entry that expires at
// or before now, or that alone exceeds MaxBytes, is not stored. Least
// recently used entries are evicted to stay within both bounds.
func (c *Cache[V]) Set(k Key, v V, cost int64, now, expires time.Time) {
	cost = max(cost, 0) + int64(len(k.mat))
	if !now.Before(expires) || cost > c.o.MaxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k.h]; ok {
		c.remove(el)
	}
	c.items[k.h] = c.lru.PushFront(&entry[V]{key: k, val: v, cost: cost, expires: expires})
	c.bytes += cost
	for len(c.items) > c.o.MaxEntries || c.bytes > c.o.MaxBytes {
		c.remove(c.lru.Back())
		c.stats.Evicted(1)
	}
}

// Delete removes k, e.g. after the remote party rejected a cached token.
// An entry of another key that hashes alike stays.
func (c *Cache[V]) Delete(k Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k.h]; ok && cachekey.Equal(el.Value.(*entry[V]).key.mat, k.mat) {
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
	delete(c.items, e.key.h)
	c.bytes -= e.cost
}

// Keyer makes keys. Every Cache has one; code that needs keys without a
// cache (request de-duplication) makes its own.
type Keyer struct {
	seed maphash.Seed
	salt [32]byte // for Secret parts
	// hash is maphash.Bytes under seed, or a stand-in in tests that force
	// collisions.
	hash func(seed maphash.Seed, b []byte) uint64
	pool sync.Pool
}

// NewKeyer returns a Keyer with a fresh random seed.
func NewKeyer() *Keyer {
	k := &Keyer{seed: maphash.MakeSeed(), hash: maphash.Bytes}
	if _, err := rand.Read(k.salt[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("remotecall: read random salt: " + err.Error())
	}
	k.pool.New = func() any { return &Hasher{k: k} }
	return k
}

func (k *Keyer) sum(b []byte) uint64 { return k.hash(k.seed, b) }

// NewHasher returns an empty Hasher. Call Sum or Release exactly once to
// release it.
func (k *Keyer) NewHasher() *Hasher {
	h := k.pool.Get().(*Hasher)
	h.buf = h.buf[:0]
	return h
}

// Hasher builds a Key from parts. Each part is length-prefixed, so no two
// different part lists produce the same key material ("a","bc" vs
// "ab","c").
type Hasher struct {
	k   *Keyer
	buf []byte // the key material, reused between keys
}

func (h *Hasher) length(n int) {
	h.buf = binary.BigEndian.AppendUint64(h.buf, uint64(n))
}

// String adds a part.
func (h *Hasher) String(s string) *Hasher {
	h.length(len(s))
	h.buf = append(h.buf, s...)
	return h
}

// Bytes adds a part.
func (h *Hasher) Bytes(b []byte) *Hasher {
	h.length(len(b))
	h.buf = append(h.buf, b...)
	return h
}

// Secret adds a part that the key material must not hold in the clear
// (a client secret, which would otherwise stay in the cache for as long
// as its entry): a SHA-256 digest of it under the Keyer's random salt
// stands for it. Tokens and other credentials the request carries anyway
// are added with String, which costs no hash.
func (h *Hasher) Secret(s string) *Hasher {
	d := sha256.New()
	d.Write(h.k.salt[:])
	d.Write(bytesOf(s))
	h.length(sha256.Size)
	h.buf = d.Sum(h.buf)
	return h
}

// Strings adds a list as one length-prefixed group of parts.
func (h *Hasher) Strings(list []string) *Hasher {
	h.length(len(list))
	for _, s := range list {
		h.String(s)
	}
	return h
}

// Sum returns the key and releases the Hasher; it must not be used again.
func (h *Hasher) Sum() Key {
	k := Key{h: h.k.sum(h.buf), mat: string(h.buf)}
	h.Release()
	return k
}

// Release releases the Hasher without making its key, after a hit of
// Cache.Lookup; it must not be used again.
func (h *Hasher) Release() {
	if cap(h.buf) > 64<<10 {
		h.buf = nil // do not pin a buffer grown by one huge key
	}
	h.k.pool.Put(h)
}

// bytesOf views s as bytes without copying it, for a hash that only
// reads it.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// bytesString views b as a string without copying it, for a comparison
// that does not keep it.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
