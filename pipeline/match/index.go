package match

import (
	"slices"
	"strings"
)

// Entry is one rule as the Index sees it: its compiled match.url and its
// match.methods.
type Entry struct {
	// Pattern is the compiled match.url. A nil Pattern never matches.
	Pattern *Pattern
	// Methods are compared case-insensitively, like Oathkeeper's
	// strings.EqualFold. An empty list never matches.
	Methods []string
	// Headers are match.headers conditions, checked by Select on the
	// URL and method hits only; nil means none.
	Headers []HeaderCond
	// Priority orders overlapping entries: Select keeps the hits with the
	// highest one. Default 0.
	Priority int
}

// Hit is one entry that matches a request.
type Hit struct {
	// Index is the entry's position in the slice given to NewIndex.
	Index int
	// Captures are the pattern's capture groups (see Pattern.Match),
	// never nil. Callers may keep them; they are ordinary strings.
	Captures []string
}

// Index finds every entry matching a request. It is built once per rule
// snapshot, never modified afterwards, and safe for concurrent use.
//
// It returns exactly what a linear scan calling Pattern.Match on every
// entry would, but looks at few entries: patterns whose literal prefix
// covers "scheme://host" are bucketed by host and scheme, then by their
// literal path prefix in a segment trie; only entries whose prefix is a
// prefix of the request and whose methods allow it run their compiled
// pattern. Patterns with a "<...>" in the authority are kept in one list
// and always tried, so rule sets should keep authorities literal.
type Index struct {
	entries  []Entry
	hosts    map[string][]schemeRoot
	wildcard []int // entries whose authority is not literal, in order

	// folded buckets anchored entries like hosts, by their literal path
	// prefix in lower case, for CaseVariants; foldedWildcard lists the
	// other entries that have a literal path prefix.
	folded         map[string][]schemeRoot
	foldedWildcard []int
	// upperLits is true when some literal path prefix has an upper-case
	// ASCII letter. When it is false, only a request path with one can
	// differ from a prefix by case alone.
	upperLits bool
}

type schemeRoot struct {
	scheme string
	root   *pathNode
}

// NewIndex builds an Index over entries; hits refer to entries by their
// position. It copies what it keeps, so the caller may reuse entries.
func NewIndex(entries []Entry) *Index {
	ix := &Index{
		entries: make([]Entry, len(entries)),
		hosts:   make(map[string][]schemeRoot),
		folded:  make(map[string][]schemeRoot),
	}
	for i, e := range entries {
		ix.entries[i] = Entry{Pattern: e.Pattern, Methods: slices.Clone(e.Methods), Headers: slices.Clone(e.Headers), Priority: e.Priority}
		p := e.Pattern
		if p == nil || len(e.Methods) == 0 {
			continue
		}
		if lowerASCII(p.pathLit) != p.pathLit {
			ix.upperLits = true
		}
		if !p.anchored {
			ix.wildcard = append(ix.wildcard, i)
			if hasLetter(p.pathLit) {
				ix.foldedWildcard = append(ix.foldedWildcard, i)
			}
			continue
		}
		root(ix.hosts, p.scheme, p.host).insert(p.prefix[p.authorityLen():], i)
		if hasLetter(p.pathLit) {
			root(ix.folded, p.scheme, p.host).insert(lowerASCII(p.pathLit), i)
		}
	}
	return ix
}

// root returns the trie of buckets for scheme and host, creating it.
func root(buckets map[string][]schemeRoot, scheme, host string) *pathNode {
	if n := find(buckets, scheme, host); n != nil {
		return n
	}
	n := &pathNode{}
	buckets[host] = append(buckets[host], schemeRoot{scheme: scheme, root: n})
	return n
}

// find returns the trie of buckets for scheme and host, or nil.
func find(buckets map[string][]schemeRoot, scheme, host string) *pathNode {
	for _, sr := range buckets[host] {
		if sr.scheme == scheme {
			return sr.root
		}
	}
	return nil
}

// Lookup appends to dst every entry matching the request, in entry order,
// and returns the extended slice. It reports all of them so that the
// caller can deny an ambiguous match, as Oathkeeper does. path must come
// from NormalizePath; the request is matched as MatchString(scheme, host,
// path).
//
// A non-nil error (ErrMatchLimit) means some regexp could not finish: dst
// is returned without new hits and the caller must deny.
//
// Lookup does not allocate when the candidates have no capture groups, the
// match string is under 1 KiB and dst has room for the hits.
func (ix *Index) Lookup(method, scheme, host, path string, dst []Hit) ([]Hit, error) {
	return ix.lookup(lookup{ix: ix, method: method, s: requestString{scheme: scheme, host: host, path: path}}, dst)
}

// LookupAnyMethod is Lookup with every method allowed: it appends the
// entries whose pattern matches the request, whatever their methods (an
// entry without methods is never indexed and never returned). It tells a
// request that matched no rule from one that matched a rule's URL but not
// its methods; callers use it on that miss only, off the hot path.
func (ix *Index) LookupAnyMethod(scheme, host, path string, dst []Hit) ([]Hit, error) {
	return ix.lookup(lookup{ix: ix, anyMethod: true, s: requestString{scheme: scheme, host: host, path: path}}, dst)
}

func (ix *Index) lookup(q lookup, dst []Hit) ([]Hit, error) {
	start := len(dst)
	scheme, host, path := q.s.scheme, q.s.host, q.s.path
	defer q.s.release()
	rest := path
	if !plainAuthority(scheme, host, path) {
		// The request cannot be split by its parts (a ':' in the scheme,
		// a '/' in the host): split the match string by the same rule as
		// patterns, so that the buckets stay exact.
		full := q.s.full()
		scheme, host, _ = splitAuthority(full, true)
		rest = full[len(scheme)+len("://")+len(host):]
	}

	var err error
	visit := func(i int) bool {
		dst, err = q.try(i, dst)
		return err == nil
	}
	find(ix.hosts, scheme, host).walk(rest, visit)
	for _, i := range ix.wildcard {
		if err != nil || !visit(i) {
			break
		}
	}
	if err != nil {
		return dst[:start], err
	}
	sortHits(dst[start:])
	return dst, nil
}

// lookup is the state of one Lookup call.
type lookup struct {
	ix        *Index
	method    string
	anyMethod bool // LookupAnyMethod: methods are not compared
	s         requestString
}

// try appends entry i if its methods allow the request and its pattern
// matches. Methods come first because they cost nothing.
func (q *lookup) try(i int, dst []Hit) ([]Hit, error) {
	e := &q.ix.entries[i]
	if !q.anyMethod && !methodAllowed(e.Methods, q.method) {
		return dst, nil
	}
	var s string
	if e.Pattern.m.retainsInput() {
		s = q.s.full()
	} else {
		s = q.s.view()
	}
	caps, ok, err := e.Pattern.Match(s)
	if err != nil || !ok {
		return dst, err
	}
	return append(dst, Hit{Index: i, Captures: caps}), nil
}

// CaseVariants appends to dst every entry other than skip that the
// request would select if the letters of its path were cased like the
// entry's literal path prefix: the request path starts with that prefix
// except for the case of ASCII letters, and the entry matches the request
// with those bytes replaced by the prefix. Many upstreams serve paths
// case-insensitively, so such an entry guards the request as much as the
// rule Lookup selected; the caller treats a hit as an ambiguity.
//
// Only the literal prefix counts: letters inside or after a "<...>" part
// are not folded. path must come from NormalizePath. When no literal path
// prefix has an upper-case letter and path has none, no entry can differ
// by case alone and CaseVariants returns at once, without allocating.
func (ix *Index) CaseVariants(method, scheme, host, path string, skip int, dst []Hit) ([]Hit, error) {
	folded := lowerASCII(path)
	if !ix.upperLits && len(folded) == len(path) && folded == path {
		return dst, nil
	}
	start := len(dst)
	var err error
	visit := func(i int) bool {
		if i != skip {
			dst, err = ix.tryCase(i, method, scheme, host, path, dst)
		}
		return err == nil
	}
	if plainAuthority(scheme, host, path) {
		find(ix.folded, scheme, host).walk(folded, visit)
	}
	for _, i := range ix.foldedWildcard {
		if err != nil || !visit(i) {
			break
		}
	}
	if err != nil {
		return dst[:start], err
	}
	sortHits(dst[start:])
	return dst, nil
}

// tryCase appends entry i if path differs from its literal path prefix by
// case alone and the entry matches the path recased to that prefix.
func (ix *Index) tryCase(i int, method, scheme, host, path string, dst []Hit) ([]Hit, error) {
	e := &ix.entries[i]
	lit := e.Pattern.pathLit
	if len(path) < len(lit) || path[:len(lit)] == lit || !equalFoldASCII(path[:len(lit)], lit) || !methodAllowed(e.Methods, method) {
		return dst, nil
	}
	caps, ok, err := e.Pattern.Match(MatchString(scheme, host, lit+path[len(lit):]))
	if err != nil || !ok {
		return dst, err
	}
	return append(dst, Hit{Index: i, Captures: caps}), nil
}

// equalFoldASCII is strings.EqualFold for ASCII letters only: "K" and the
// Kelvin sign are different bytes to an upstream, and to us.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// hasLetter reports whether s has an ASCII letter.
func hasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; 'a' <= c && c <= 'z' {
			return true
		}
	}
	return false
}

// authorityLen is the length of the literal "scheme://host" of an anchored
// pattern.
func (p *Pattern) authorityLen() int {
	return len(p.scheme) + len("://") + len(p.host)
}

func methodAllowed(methods []string, method string) bool {
	for _, m := range methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}

// sortHits restores entry order. Hits are few (more than one is already an
// ambiguity), so insertion sort is enough and does not allocate.
func sortHits(h []Hit) {
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && h[j].Index < h[j-1].Index; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}
