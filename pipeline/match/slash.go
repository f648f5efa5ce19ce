package match

import (
	"encoding/binary"
	"strings"
)

// SlashGap describes a pattern that matches a path with a trailing slash
// but not the same path without it. Requests are matched after
// NormalizePath, which removes the slash everywhere except at the host
// root, so such a rule never sees a request for that path in either form.
type SlashGap struct {
	// Bare is the pattern as written up to, not including, the '/' before
	// its last "<...>" part: the URL the rule does not match.
	Bare string
	// Fix is a pattern in the same strategy that also matches Bare and
	// still matches everything the pattern matches: under regexp
	// Bare<(/expr)?>, under glob Bare<{,/expr}>. It has been compiled and
	// checked; it is empty when no such pattern could be built.
	Fix string
}

// TrailingSlashGap reports the SlashGap of p: p ends in "/<expr>" where
// expr can match the empty string ("/admin/<.*>", "/admin/<**>") and the
// '/' is not the first one of the path. At the host root there is no gap:
// the path "/" keeps its slash and "https://host/<.*>" matches it.
// Patterns that already cover both forms ("/admin<(/.*)?>",
// "/admin<{,/**}>") and parts that cannot match empty under the
// pattern's strategy ("<.*>" under glob needs a '.') have none.
//
// It is meant for load-time warnings and may allocate; what it learns
// about a part or a pattern shape is cached, so that a rule set repeating
// them costs one analysis each.
func (p *Pattern) TrailingSlashGap() (SlashGap, bool) {
	t, err := parseTemplate(p.raw)
	n := len(t.vars)
	if err != nil || n == 0 || t.lits[n] != "" || !strings.HasSuffix(t.lits[n-1], "/") {
		return SlashGap{}, false
	}
	expr := t.vars[n-1]
	head := p.raw[:len(p.raw)-len(expr)-len("<>")]
	if pathRoot(head) {
		return SlashGap{}, false
	}
	part := p.analyseSlashPart(expr)
	if !part.empty {
		return SlashGap{}, false
	}
	if n == 1 {
		// The text before the last part is literal: confirm the gap on
		// the strings themselves, in canonical form as requests are.
		withSlash := p.Canonical()[:len(p.Canonical())-len(expr)-len("<>")]
		if _, ok, err := p.Match(withSlash); err != nil || !ok {
			return SlashGap{}, false
		}
		if _, ok, _ := p.Match(strings.TrimSuffix(withSlash, "/")); ok {
			return SlashGap{}, false
		}
	}
	gap := SlashGap{Bare: strings.TrimSuffix(head, "/")}
	if part.fix != "" {
		if fix := gap.Bare + "<" + part.fix + ">"; fixCompiles(p.strategy(), fix) {
			gap.Fix = fix
		}
	}
	return gap, true
}

// A rule set repeats a few last parts (".*", "**") and a few pattern
// shapes thousands of times, and compiling them is most of what the
// warning would cost (a third of a 100,000-rule load before the caches):
// both answers are kept, up to slashCacheMax entries each. Parts longer
// than maxPartLen and shapes longer than maxShapeLen are not kept, which
// bounds the caches' memory.
const (
	slashCacheMax = 4096
	maxShapeLen   = 1024
)

// slashPart is what TrailingSlashGap knows about a last part on its own.
type slashPart struct {
	empty bool   // the part matches ""
	fix   string // slashFix's answer
}

var (
	slashParts = newBoundedCache[partKey, slashPart](slashCacheMax)
	// slashFixes records whether a fix pattern compiles, by fixShape.
	slashFixes = newBoundedCache[string, bool](slashCacheMax)
)

// analyseSlashPart returns what TrailingSlashGap needs about the last
// part expr under p's strategy, from the cache when it can.
func (p *Pattern) analyseSlashPart(expr string) slashPart {
	key := partKey{p.strategy(), expr}
	part, ok := slashParts.get(key)
	if ok {
		return part
	}
	if part.empty = p.matchesEmpty(expr); part.empty {
		part.fix = p.slashFix(expr)
	}
	if len(expr) <= maxPartLen {
		key.expr = strings.Clone(expr) // expr may pin a whole rule file
		slashParts.put(key, part)
	}
	return part
}

// fixCompiles reports whether Compile accepts fix under strategy. Patterns
// of one shape (fixShape) get the same answer, so only the first of them
// is compiled.
func fixCompiles(strategy Strategy, fix string) bool {
	t, err := parseTemplate(fix)
	if err != nil {
		return false
	}
	canonicalAuthority(t) // Compile matches, and so compiles, the canonical literals
	shape, ok := fixShape(strategy, t)
	ok = ok && len(shape) <= maxShapeLen
	if ok {
		if compiles, seen := slashFixes.get(shape); seen {
			return compiles
		}
	}
	_, err = Compile(strategy, fix)
	if ok {
		slashFixes.put(shape, err == nil)
	}
	return err == nil
}

// fixShape returns a key that two patterns share only if Compile gives
// both the same answer: the strategy, the parts as written and each
// literal with its letters and digits replaced by 'a'. ok is false when
// the literals' text might matter, and the pattern must be compiled.
//
// The literals reach the engines quoted (regexp.QuoteMeta,
// glob.QuoteMeta), so their text cannot change how the pattern parses
// except through bytes that quoting leaves meaningful: '\' (which could
// end a part's "\Q" quote), '#' and spaces (comments under "(?x)" in
// regexp2), ',' (an alternative separator inside a glob brace a part
// left open), invalid UTF-8 (refused by RE2), and any text at all inside
// a glob character class or escape a part left open. Lengths stay, and
// so do the bytes that quoting escapes, because RE2 bounds a pattern's
// size. What is left is the parts and the literals' structure.
func fixShape(strategy Strategy, t template) (string, bool) {
	if strategy == Glob {
		for _, v := range t.vars {
			if !globSelfContained(v) {
				return "", false
			}
		}
	}
	b := make([]byte, 0, 64)
	b = append(b, byte(len(strategy)))
	b = append(b, strategy...)
	for i, l := range t.lits {
		b = binary.AppendUvarint(b, uint64(len(l)))
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
				c = 'a'
			case strings.IndexByte(shapeSafe, c) < 0:
				return "", false
			}
			b = append(b, c)
		}
		if i < len(t.vars) {
			b = binary.AppendUvarint(b, uint64(len(t.vars[i])))
			b = append(b, t.vars[i]...)
		}
	}
	return string(b), true
}

// shapeSafe are the literal bytes other than letters and digits whose
// quoted form means the same to every engine in every context a part
// can leave: URL punctuation without '\\', '#', ',' or spaces.
const shapeSafe = "-._~:/@%!$&'()*+;=?[]{}|^"

// globSelfContained reports whether the glob part v opens nothing it
// does not close (a brace, a character class) and escapes nothing, so
// that the literal after it is read as plain text whatever it says.
func globSelfContained(v string) bool {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\', ']':
			return false
		case '[':
			end := strings.IndexByte(v[i+1:], ']')
			if end < 0 || strings.IndexByte(v[i+1:i+1+end], '\\') >= 0 {
				return false
			}
			i += 1 + end
		case '{':
			depth++
		case '}':
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// slashFix returns the "<...>" contents that match "" and "/" followed by
// anything expr matches, in p's strategy, or "" if the candidate does not
// behave so (an anchor such as "^" in expr cannot follow the '/').
func (p *Pattern) slashFix(expr string) string {
	var fix string
	switch {
	case p.strategy() == Glob:
		fix = "{,/" + expr + "}"
	case strings.Contains(expr, "|"):
		fix = "(/(?:" + expr + "))?"
	default:
		fix = "(/" + expr + ")?"
	}
	m, err := p.compilePart(fix)
	if err != nil {
		return ""
	}
	for _, s := range []string{"", "/"} {
		if _, ok, err := m.match(s); err != nil || !ok {
			return ""
		}
	}
	return fix
}

// matchesEmpty reports whether the "<...>" contents expr match the empty
// string under p's strategy.
func (p *Pattern) matchesEmpty(expr string) bool {
	m, err := p.compilePart(expr)
	if err != nil {
		return false
	}
	_, ok, err := m.match("")
	return err == nil && ok
}

// compilePart compiles one "<...>" part on its own, anchored, with the
// engine of p's strategy.
func (p *Pattern) compilePart(expr string) (matcher, error) {
	t := template{lits: []string{"", ""}, vars: []string{expr}}
	if p.strategy() == Glob {
		return compileGlob(t)
	}
	return compileRegexp(t)
}

// pathRoot reports whether the final '/' of head is the first '/' after
// its "://", the root of the path. A head without a scheme counts as root:
// such a pattern never matches anything.
func pathRoot(head string) bool {
	i := strings.Index(head, "://")
	if i < 0 {
		return true
	}
	rest := head[i+len("://"):]
	return strings.IndexByte(rest, '/') == len(rest)-1
}
