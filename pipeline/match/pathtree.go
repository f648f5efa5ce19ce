package match

import "strings"

// pathNode is one level of a segment trie over the literal path prefixes
// of the patterns sharing a scheme and host. A node stands for a path
// prefix ending in '/' (the root for the empty prefix); children is keyed
// by the next segment including its '/'.
//
// A segment trie rather than a byte trie keeps 10k prefixes to roughly one
// node per distinct directory, and each step is one map lookup with a
// substring key, which does not allocate.
type pathNode struct {
	// here holds the entries whose literal prefix ends inside the next
	// segment; tail is that partial segment ("" when the prefix ends at
	// this node's '/'), so "/users/ab<...>" sits under "/" → "users/" with
	// tail "ab".
	here     []pathEntry
	children map[string]*pathNode
}

type pathEntry struct {
	tail  string
	entry int
}

// insert adds entry under its literal path prefix lit.
func (n *pathNode) insert(lit string, entry int) {
	for {
		i := strings.IndexByte(lit, '/')
		if i < 0 {
			n.here = append(n.here, pathEntry{tail: lit, entry: entry})
			return
		}
		seg := lit[:i+1]
		child := n.children[seg]
		if child == nil {
			if n.children == nil {
				n.children = make(map[string]*pathNode)
			}
			child = &pathNode{}
			n.children[seg] = child
		}
		n, lit = child, lit[i+1:]
	}
}

// walk calls visit for every entry whose literal path prefix is a prefix
// of p, in no particular order (Lookup sorts its hits). visit returns false
// to stop the walk.
func (n *pathNode) walk(p string, visit func(entry int) bool) {
	for n != nil {
		for _, e := range n.here {
			if strings.HasPrefix(p, e.tail) && !visit(e.entry) {
				return
			}
		}
		i := strings.IndexByte(p, '/')
		if i < 0 {
			return
		}
		n, p = n.children[p[:i+1]], p[i+1:]
	}
}
