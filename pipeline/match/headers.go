package match

import (
	"fmt"
	"slices"
	"strings"
)

// HeaderCond is one compiled match.headers entry, a Portcullis extension:
// the request header Name (lower case) must be present and its first value
// must match Value, compared exactly or, when it has "<...>" parts, with
// the rule's matching strategy.
type HeaderCond struct {
	// Name is the header name in lower case; names compare
	// case-insensitively, as HTTP says.
	Name string
	// Value is the compiled expected value.
	Value *Pattern
}

// CompileHeaders compiles a rule's match.headers under strategy, sorted by
// name so that equal maps compile to equal lists. A nil or empty map gives
// nil: no condition.
func CompileHeaders(strategy Strategy, headers map[string]string) ([]HeaderCond, error) {
	if len(headers) == 0 {
		return nil, nil
	}
	conds := make([]HeaderCond, 0, len(headers))
	seen := make(map[string]string, len(headers))
	for name, value := range headers {
		if name == "" {
			return nil, fmt.Errorf("a header name must not be empty")
		}
		lower := lowerASCII(name)
		if prev, dup := seen[lower]; dup {
			return nil, fmt.Errorf("header %q is listed twice (also as %q); names are case-insensitive", name, prev)
		}
		seen[lower] = name
		p, err := Compile(strategy, value)
		if err != nil {
			return nil, fmt.Errorf("header %q: %w", name, err)
		}
		conds = append(conds, HeaderCond{Name: lower, Value: p})
	}
	slices.SortFunc(conds, func(a, b HeaderCond) int { return strings.Compare(a.Name, b.Name) })
	return conds, nil
}

// HeadersKey is a canonical text of conds, for duplicate-rule detection:
// two rules with the same URL, method, headers and priority conflict.
func HeadersKey(conds []HeaderCond) string {
	var b strings.Builder
	for _, c := range conds {
		fmt.Fprintf(&b, "%q=%q;", c.Name, c.Value.Canonical())
	}
	return b.String()
}

// matchHeaders reports whether every condition holds for header, which
// returns the first value of a lower-case name and whether it is present.
// An error (ErrMatchLimit) is never a match; callers must deny.
func matchHeaders(conds []HeaderCond, header func(name string) (string, bool)) (bool, error) {
	for _, c := range conds {
		v, ok := header(c.Name)
		if !ok {
			return false, nil
		}
		_, ok, err := c.Value.Match(v)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Select narrows the hits of Lookup (or LookupAnyMethod) by the entries'
// header conditions, then keeps only the hits with the highest priority,
// in place, and returns the result. The hits are few, so this costs
// nothing measurable, and matching stays flat in the number of rules.
// header returns the first value of a lower-case header name and whether
// it is present. More than one hit left is still an ambiguity for the
// caller; on error the caller must deny.
func (ix *Index) Select(hits []Hit, header func(name string) (string, bool)) ([]Hit, error) {
	out := hits[:0]
	for _, h := range hits {
		ok, err := matchHeaders(ix.entries[h.Index].headers, header)
		if err != nil {
			return hits[:0], err
		}
		if ok {
			out = append(out, h)
		}
	}
	if len(out) < 2 {
		return out, nil
	}
	best := ix.entries[out[0].Index].priority
	for _, h := range out[1:] {
		best = max(best, ix.entries[h.Index].priority)
	}
	top := out[:0]
	for _, h := range out {
		if ix.entries[h.Index].priority == best {
			top = append(top, h)
		}
	}
	return top, nil
}
