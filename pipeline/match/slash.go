package match

import "strings"

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
// It is meant for load-time warnings and may allocate.
func (p *Pattern) TrailingSlashGap() (SlashGap, bool) {
	t, err := parseTemplate(p.raw)
	n := len(t.vars)
	if err != nil || n == 0 || t.lits[n] != "" || !strings.HasSuffix(t.lits[n-1], "/") {
		return SlashGap{}, false
	}
	expr := t.vars[n-1]
	head := p.raw[:len(p.raw)-len(expr)-len("<>")]
	if pathRoot(head) || !p.matchesEmpty(expr) {
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
	if fix := p.slashFix(expr); fix != "" {
		gap.Fix = gap.Bare + "<" + fix + ">"
		if _, err := Compile(p.strategy(), gap.Fix); err != nil {
			gap.Fix = ""
		}
	}
	return gap, true
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
