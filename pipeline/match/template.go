package match

import (
	"errors"
	"strings"
)

// errUnbalanced reports a '<' without its '>' or the reverse.
var errUnbalanced = errors.New("unbalanced <> delimiters")

// template is a match.url split at its top-level "<...>" delimiters:
// lits[0] vars[0] lits[1] ... vars[n-1] lits[n]. lits always has one more
// element than vars; lits[0] is the pattern's literal prefix.
type template struct {
	lits []string
	vars []string
}

// parseTemplate splits a pattern the way ory/ladon's compiler does, so that
// patterns which compile in Oathkeeper compile here and those that fail
// there fail here.
func parseTemplate(pattern string) (template, error) {
	idx, err := delimiterIndices(pattern)
	if err != nil {
		return template{}, err
	}
	t := template{
		lits: make([]string, 0, len(idx)/2+1),
		vars: make([]string, 0, len(idx)/2),
	}
	end := 0
	for i := 0; i < len(idx); i += 2 {
		t.lits = append(t.lits, pattern[end:idx[i]])
		t.vars = append(t.vars, pattern[idx[i]+1:idx[i+1]-1])
		end = idx[i+1]
	}
	t.lits = append(t.lits, pattern[end:])
	return t, nil
}

// delimiterIndices returns start and end offsets (end exclusive) of every
// top-level "<...>". Nested pairs only count levels, so a regexp part may
// itself contain balanced '<' and '>' such as (?P<id>...).
func delimiterIndices(s string) ([]int, error) {
	var idx []int
	level, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			level++
			if level == 1 {
				start = i
			}
		case '>':
			level--
			switch {
			case level == 0:
				idx = append(idx, start, i+1)
			case level < 0:
				return nil, errUnbalanced
			}
		}
	}
	if level != 0 {
		return nil, errUnbalanced
	}
	return idx, nil
}

// String joins t back into pattern text.
func (t template) String() string {
	var b strings.Builder
	for i, v := range t.vars {
		b.WriteString(t.lits[i])
		b.WriteByte('<')
		b.WriteString(v)
		b.WriteByte('>')
	}
	b.WriteString(t.lits[len(t.lits)-1])
	return b.String()
}

// within returns t with every literal and part replaced by the same text
// inside s, which must be t.String(): the copies parseTemplate and
// canonicalAuthority made can then be freed.
func (t template) within(s string) template {
	out := template{lits: make([]string, len(t.lits)), vars: make([]string, len(t.vars))}
	off := 0
	for i, l := range t.lits {
		out.lits[i] = s[off : off+len(l)]
		off += len(l)
		if i < len(t.vars) {
			off++ // '<'
			out.vars[i] = s[off : off+len(t.vars[i])]
			off += len(t.vars[i]) + 1
		}
	}
	return out
}

// litStart returns the offset of t.lits[i] in t.String().
func (t template) litStart(i int) int {
	n := 0
	for j := range i {
		n += len(t.lits[j]) + len(t.vars[j]) + len("<>")
	}
	return n
}
