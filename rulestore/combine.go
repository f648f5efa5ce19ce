package rulestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Part is one source of a combined rule set.
type Part struct {
	// Name says where the rules come from (the repository URL), in
	// errors.
	Name string
	// Source delivers the part's sets.
	Source Source
	// Initial is the set already read at start-up, if any.
	Initial *Set
}

// Combined merges the sets of several sources (file, inline, http, xds)
// into one: the rules of every part, in part order. A rule id defined by
// two parts is an error naming both, and the set is not published. Until
// every part has delivered a set, nothing is published: a partial set
// would deny what the missing part allows.
type Combined struct {
	mu    sync.Mutex
	parts []Part
	sets  []*Set
}

var _ Source = (*Combined)(nil)

// Combine returns the combination of parts.
func Combine(parts ...Part) *Combined {
	c := &Combined{parts: parts, sets: make([]*Set, len(parts))}
	for i, p := range parts {
		c.sets[i] = p.Initial
	}
	return c
}

// Current returns the combined set of the parts' initial sets; ok is
// false while a part has none yet.
func (c *Combined) Current() (set Set, ok bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.merge()
}

// Run runs every part until ctx is done, publishing the combined set each
// time a part delivers a new one. A combined set publish rejects (a
// duplicate id, a compile error) leaves the part's previous set in place,
// and the error goes back to the part, which keeps reporting it.
func (c *Combined) Run(ctx context.Context, publish func(Set) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range c.parts {
		g.Go(func() error {
			return p.Source.Run(gctx, func(s Set) error {
				c.mu.Lock()
				defer c.mu.Unlock()
				prev := c.sets[i]
				c.sets[i] = &s
				merged, ok, err := c.merge()
				if err == nil && ok {
					err = publish(merged)
				}
				if err != nil {
					c.sets[i] = prev
				}
				return err
			})
		})
	}
	return g.Wait()
}

// merge concatenates the parts' sets; c.mu is held.
func (c *Combined) merge() (Set, bool, error) {
	if len(c.parts) == 1 {
		if c.sets[0] == nil {
			return Set{}, false, nil
		}
		return *c.sets[0], true, nil
	}
	h := sha256.New()
	var out Set
	owner := map[string]int{}
	for i, s := range c.sets {
		if s == nil {
			return Set{}, false, nil
		}
		for _, r := range s.Specs {
			if j, dup := owner[r.ID]; dup && j != i {
				return Set{}, false, fmt.Errorf("rule id %q is defined by two repositories: %s and %s", r.ID, c.parts[j].Name, c.parts[i].Name)
			}
			owner[r.ID] = i
		}
		out.Specs = append(out.Specs, s.Specs...)
		fmt.Fprintf(h, "%d:%s\n", i, s.Version)
	}
	out.Version = hex.EncodeToString(h.Sum(nil))[:16]
	return out, true, nil
}
