package match

import "strings"

// pathIndex finds, among the patterns sharing a host, those whose literal
// path prefix is a prefix of a request's path. A prefix is split at its
// last '/' into a directory ("/users/", "" when it has no '/') and a tail
// ("ab" of "/users/ab<...>"). A request path has one directory per '/',
// so a lookup is one map access per '/' of the path, up to the deepest
// directory, whatever the number of patterns.
//
// Entries are stored flat, grouped by directory, and the map holds only
// each group's bounds: at 100,000 rules this is a fraction of the memory
// of a tree of nodes.
type pathIndex struct {
	root    []pathEntry         // prefixes without '/'
	dirs    map[string]pathSpan // by directory
	entries []pathEntry
	depth   int // the most '/' in a directory
}

type pathSpan struct{ start, end uint32 }

type pathEntry struct {
	tail  string
	entry int
}

// walk calls visit for every entry whose literal path prefix is a prefix
// of p, in no particular order (Lookup sorts its hits). visit returns false
// to stop the walk.
func (x *pathIndex) walk(p string, visit func(entry int) bool) {
	if x == nil || !visitAll(x.root, p, visit) {
		return
	}
	end := 0
	for range x.depth {
		i := strings.IndexByte(p[end:], '/')
		if i < 0 {
			return
		}
		end += i + 1
		if sp, ok := x.dirs[p[:end]]; ok && !visitAll(x.entries[sp.start:sp.end], p[end:], visit) {
			return
		}
	}
}

// visitAll visits the entries whose tail rest starts with.
func visitAll(entries []pathEntry, rest string, visit func(entry int) bool) bool {
	for _, e := range entries {
		if strings.HasPrefix(rest, e.tail) && !visit(e.entry) {
			return false
		}
	}
	return true
}

// pathIndexBuilder collects the entries of one pathIndex.
type pathIndexBuilder struct {
	root  []pathEntry
	dirs  map[string][]pathEntry
	order []string // dirs in the order they came, for a stable layout
	depth int
	n     int
}

// insert adds entry under its literal path prefix lit.
func (b *pathIndexBuilder) insert(lit string, entry int) {
	cut := strings.LastIndexByte(lit, '/') + 1
	e := pathEntry{tail: lit[cut:], entry: entry}
	b.n++
	if cut == 0 {
		b.root = append(b.root, e)
		return
	}
	dir := lit[:cut]
	if b.dirs == nil {
		b.dirs = make(map[string][]pathEntry)
	}
	if _, ok := b.dirs[dir]; !ok {
		b.order = append(b.order, dir)
		b.depth = max(b.depth, strings.Count(dir, "/"))
	}
	b.dirs[dir] = append(b.dirs[dir], e)
}

// build lays the entries out in one slice.
func (b *pathIndexBuilder) build() *pathIndex {
	x := &pathIndex{
		root:    b.root,
		dirs:    make(map[string]pathSpan, len(b.order)),
		entries: make([]pathEntry, 0, b.n-len(b.root)),
		depth:   b.depth,
	}
	for _, dir := range b.order {
		start := len(x.entries)
		x.entries = append(x.entries, b.dirs[dir]...)
		x.dirs[dir] = pathSpan{start: uint32(start), end: uint32(len(x.entries))}
	}
	return x
}

// pathIndexes builds a pathIndex per host.
type pathIndexes map[string]*pathIndexBuilder

func (bs pathIndexes) insert(host, lit string, entry int) {
	b := bs[host]
	if b == nil {
		b = &pathIndexBuilder{}
		bs[strings.Clone(host)] = b // host may pin a larger string
	}
	b.insert(lit, entry)
}

func (bs pathIndexes) build() map[string]*pathIndex {
	out := make(map[string]*pathIndex, len(bs))
	for host, b := range bs {
		out[host] = b.build()
	}
	return out
}
