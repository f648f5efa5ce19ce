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
