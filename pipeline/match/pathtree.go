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

// pathIndexBuilder collects the entries of one pathIndex. A rule set
// often has a directory per rule ("/svc-00042/"), so it keeps no slice
// per directory: every entry goes into one list, and build sorts them
// into place by directory, in the order the directories came.
type pathIndexBuilder struct {
	root []pathEntry
	// dirs maps a directory to its number (in start) until build turns
	// each value into the directory's span: the map becomes the index's.
	dirs   map[string]pathSpan
	under  []dirEntry // entries with a directory, as they came
	counts []uint32   // entries per directory number
	depth  int
}

// dirEntry is an entry and the number of its directory.
type dirEntry struct {
	pathEntry
	dir uint32
}

// insert adds entry under its literal path prefix lit.
func (b *pathIndexBuilder) insert(lit string, entry int) {
	cut := strings.LastIndexByte(lit, '/') + 1
	e := pathEntry{tail: lit[cut:], entry: entry}
	if cut == 0 {
		b.root = append(b.root, e)
		return
	}
	dir := lit[:cut]
	sp, ok := b.dirs[dir]
	if !ok {
		if b.dirs == nil {
			b.dirs = make(map[string]pathSpan)
		}
		sp.start = uint32(len(b.counts))
		b.dirs[dir] = sp
		b.counts = append(b.counts, 0)
		b.depth = max(b.depth, strings.Count(dir, "/"))
	}
	b.counts[sp.start]++
	b.under = append(b.under, dirEntry{pathEntry: e, dir: sp.start})
}

// build lays the entries out in one slice, grouped by directory (a
// counting sort, stable within a directory).
func (b *pathIndexBuilder) build() *pathIndex {
	// counts becomes each directory's first slot, then, as entries are
	// placed, its end.
	next := uint32(0)
	for d, n := range b.counts {
		b.counts[d], next = next, next+n
	}
	entries := make([]pathEntry, len(b.under))
	for _, e := range b.under {
		entries[b.counts[e.dir]] = e.pathEntry
		b.counts[e.dir]++
	}
	for dir, sp := range b.dirs {
		d := sp.start
		sp.start, sp.end = 0, b.counts[d]
		if d > 0 {
			sp.start = b.counts[d-1]
		}
		b.dirs[dir] = sp
	}
	x := &pathIndex{root: b.root, dirs: b.dirs, entries: entries, depth: b.depth}
	*b = pathIndexBuilder{}
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
