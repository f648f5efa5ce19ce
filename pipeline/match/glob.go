package match

import (
	"errors"
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
		if err := checkGlobBraces(v); err != nil {
			return nil, fmt.Errorf("glob <%s>: %w", v, err)
		}
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

func (m globMatcher) match(s string) (caps []string, ok bool, err error) {
	// checkGlobBraces refuses the patterns known to crash gobwas; should
	// another slip through, the request is denied rather than the
	// process brought down.
	defer func() {
		if r := recover(); r != nil {
			caps, ok, err = nil, false, errGlobFailed
		}
	}()
	if !m.g.Match(s) {
		return nil, false, nil
	}
	return noCaptures, true, nil
}

func (globMatcher) retainsInput() bool { return false }

// errGlobFailed is returned when gobwas/glob fails while matching: the
// caller denies, as for ErrMatchLimit.
var errGlobFailed = fmt.Errorf("glob match failed: %w", ErrMatchLimit)

// checkGlobBraces refuses a "<...>" glob part whose '{' and '}' do not
// pair up. gobwas/glob compiles "<{>" and then panics while matching some
// inputs, so such a pattern would take the process down on the first
// request (or while loading, when the trailing-slash check probes it).
// Backslash escapes and character classes are skipped as gobwas reads
// them.
func checkGlobBraces(v string) error {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '[':
			// A class runs to the next unescaped ']'; gobwas refuses an
			// unclosed one itself.
			for i++; i < len(v) && v[i] != ']'; i++ {
				if v[i] == '\\' {
					i++
				}
			}
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return errors.New("'}' without '{'")
			}
			depth--
		}
	}
	if depth != 0 {
		return errors.New("'{' without '}'")
	}
	return nil
}
