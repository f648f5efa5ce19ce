package match

import "sync"

// boundedCache is a map shared by goroutines that stops growing at max
// entries: later keys are computed by the caller each time. It holds the
// load-time analyses a rule set repeats thousands of times (parts,
// pattern shapes), so that their memory stays bounded whatever the rules.
type boundedCache[K comparable, V any] struct {
	mu  sync.Mutex
	m   map[K]V
	max int
}

func newBoundedCache[K comparable, V any](limit int) *boundedCache[K, V] {
	return &boundedCache[K, V]{m: make(map[K]V), max: limit}
}

func (c *boundedCache[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

// put keeps v under k unless the cache is full. A key holding a string
// must not pin a larger one (strings.Clone it first).
func (c *boundedCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) < c.max {
		c.m[k] = v
	}
}
