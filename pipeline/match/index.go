package match

import (
	"slices"
	"strconv"
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
// entry would, but looks at few entries. Every pattern whose matches all
// have a known literal host is bucketed by that host, then by its literal
// path prefix (pathIndex); only entries whose bucket and prefix fit
// the request and whose methods allow it run their compiled pattern (see
// indexKeys for the shapes: a literal authority, a "<...>" scheme or host
// that is a finite set of literals, as in "<http|https>://host/", or a
// "<...>" scheme that cannot match ':' or '/'). The other patterns, such
// as those with a "<.*>" in the host, are kept in one list and always
// tried.
type Index struct {
	entries  []indexEntry
	hosts    map[string]*pathIndex
	wildcard []int // entries without a known host, in order

	// CaseVariants finds entries by the request path in lower case: in
	// hosts those whose literal path prefix is lower-case already, in
	// folded those with an upper-case letter, by the prefix in lower
	// case, and the others through foldedWildcard, which lists every
	// other entry whose prefix has a letter. hostsSkip are the entries of
	// hosts that foldedWildcard lists (their buckets' path prefixes are
	// not their own), which the walk of hosts must pass over.
	folded         map[string]*pathIndex
	foldedWildcard []int
	hostsSkip      map[int]bool
	// upperLits is true when some literal path prefix has an upper-case
	// ASCII letter. When it is false, only a request path with one can
	// differ from a prefix by case alone.
	upperLits bool
}

// indexEntry is an Entry as the Index keeps it. Rule sets repeat the same
// methods and priority without headers over and over; entries share them.
type indexEntry struct {
	pattern *Pattern
	*entryRest
}

type entryRest struct {
	methods  []string
	headers  []HeaderCond
	priority int
}

// NewIndex builds an Index over entries; hits refer to entries by their
// position. It copies what it keeps, so the caller may reuse entries.
func NewIndex(entries []Entry) *Index {
	ix := &Index{entries: make([]indexEntry, len(entries))}
	hosts, folded := make(pathIndexes), make(pathIndexes)
	shared := make(map[string]*entryRest)
	var last *entryRest
	for i, e := range entries {
		if last == nil || !last.same(e) {
			last = sharedRest(shared, e)
		}
		ix.entries[i] = indexEntry{pattern: e.Pattern, entryRest: last}
		p := e.Pattern
		if p == nil || len(e.Methods) == 0 {
			continue
		}
		if lowerASCII(p.pathLit()) != p.pathLit() {
			ix.upperLits = true
		}
		keys, ok := p.indexKeys()
		if !ok {
			ix.wildcard = append(ix.wildcard, i)
			if hasLetter(p.pathLit()) {
				ix.foldedWildcard = append(ix.foldedWildcard, i)
			}
			continue
		}
		// CaseVariants recases the request's path to pathLit; a key with
		// another literal path prefix cannot be found that way.
		foldable := hasLetter(p.pathLit())
		for _, k := range keys {
			hosts.insert(k.host, k.pathLit, i)
			foldable = foldable && k.pathLit == p.pathLit()
		}
		switch lower := lowerASCII(p.pathLit()); {
		case !hasLetter(p.pathLit()), foldable && lower == p.pathLit():
			// No variants, or found in hosts.
		case foldable:
			for _, k := range keys {
				folded.insert(k.host, lower, i)
			}
		default:
			ix.foldedWildcard = append(ix.foldedWildcard, i)
			if ix.hostsSkip == nil {
				ix.hostsSkip = make(map[int]bool)
			}
			ix.hostsSkip[i] = true
		}
	}
	ix.hosts, ix.folded = hosts.build(), folded.build()
	return ix
}

// same reports whether r can stand for e's methods, headers and
// priority: neighbouring rules often share them.
func (r *entryRest) same(e Entry) bool {
	return len(e.Headers) == 0 && len(r.headers) == 0 && r.priority == e.Priority &&
		(r.methods == nil) == (e.Methods == nil) && slices.Equal(r.methods, e.Methods)
}

// sharedRest returns e's methods, headers and priority, copied, and
// shared with every entry that has the same ones and no headers.
func sharedRest(seen map[string]*entryRest, e Entry) *entryRest {
	if len(e.Headers) > 0 {
		return &entryRest{methods: slices.Clone(e.Methods), headers: slices.Clone(e.Headers), priority: e.Priority}
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(e.Priority))
	if e.Methods == nil {
		b.WriteByte('!') // nil and empty stay apart, as Clone keeps them
	}
	for _, m := range e.Methods {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(len(m)))
		b.WriteByte(':')
		b.WriteString(m)
	}
	key := b.String()
	r := seen[key]
	if r == nil {
		r = &entryRest{methods: slices.Clone(e.Methods), priority: e.Priority}
		seen[key] = r
	}
	return r
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
// match string is under 1 KiB and dst has room for the hits. A capture
// may be a substring of scheme, host or path (which, being strings, must
// not be backed by memory the caller reuses).
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
	ix.hosts[host].walk(rest, visit)
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
	if !q.anyMethod && !methodAllowed(e.methods, q.method) {
		return dst, nil
	}
	if m, ok := e.pattern.m.(*partsMatcher); ok {
		// Its captures can be cut from the request's own strings, so the
		// match string need not be built.
		var sp spans
		if !m.locate(q.s.view(), &sp) {
			return dst, nil
		}
		caps := make([]string, len(m.parts))
		for k := range caps {
			caps[k] = q.s.substring(sp[2*k], sp[2*k+1])
		}
		return append(dst, Hit{Index: i, Captures: caps}), nil
	}
	var s string
	if e.pattern.m.retainsInput() {
		s = q.s.full()
	} else {
		s = q.s.view()
	}
	caps, ok, err := e.pattern.Match(s)
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
		ix.hosts[host].walk(folded, func(i int) bool {
			return ix.hostsSkip[i] || visit(i)
		})
		if err == nil {
			ix.folded[host].walk(folded, visit)
		}
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
	lit := e.pattern.pathLit()
	if len(path) < len(lit) || path[:len(lit)] == lit || !equalFoldASCII(path[:len(lit)], lit) || !methodAllowed(e.methods, method) {
		return dst, nil
	}
	caps, ok, err := e.pattern.Match(MatchString(scheme, host, lit+path[len(lit):]))
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
	return int(p.schemeLen) + len("://") + int(p.hostLen)
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
