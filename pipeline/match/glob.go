package match

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
)

// compileGlob is Oathkeeper's compileGlob: literal text quoted, "<...>"
// contents inserted raw, separators '.' and '/' (Oathkeeper #630), so '*'
// stays within one path segment or host label.
//
// gobwas's optimiser has bugs that let some combinations such as "*?"
// cross separators, and whether they bite depends on the whole pattern
// (TestGlobSeparatorQuirksMatchOathkeeper). The pattern is therefore
// always compiled and matched whole, bugs included, as in Oathkeeper.
func compileGlob(t template) (matcher, error) {
	var b strings.Builder
	for i, v := range t.vars {
		b.WriteString(glob.QuoteMeta(t.lits[i]))
		b.WriteString(v)
	}
	b.WriteString(glob.QuoteMeta(t.lits[len(t.lits)-1]))
	g, err := glob.Compile(b.String(), '.', '/')
	if err != nil {
		return nil, fmt.Errorf("glob %s: %w", b.String(), err)
	}
	return globMatcher{g}, nil
}

// globMatcher has no capture groups: Oathkeeper's RegexpCaptureGroups is
// always empty under glob.
type globMatcher struct {
	g glob.Glob
}

func (m globMatcher) match(s string) ([]string, bool, error) {
	if !m.g.Match(s) {
		return nil, false, nil
	}
	return noCaptures, true, nil
}

func (globMatcher) retainsInput() bool { return false }
