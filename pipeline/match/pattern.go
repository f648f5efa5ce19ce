package match

import (
	"fmt"
	"strings"
)

// Pattern is one compiled match.url. It is immutable and safe for
// concurrent use.
//
// A rule set may hold 100,000 of them, so a Pattern keeps only its text,
// its engine and offsets into the text.
type Pattern struct {
	raw string
	// canon is the pattern as matched (see Canonical) when that differs
	// from raw; "" otherwise.
	canon string

	// m always sees the whole match string, never a suffix: gobwas/glob
	// builds a different matcher tree, with different separator bugs,
	// for a different literal prefix, and Oathkeeper compiles the whole
	// pattern.
	m matcher

	// Offsets into Canonical(); see prefix, scheme, host and pathLit.
	prefixLen, schemeLen, hostLen, pathAt, pathLen uint32
	// anchored is true when prefix contains "://" followed by a '/', or
	// the pattern is fully literal: scheme and host are then literal.
	anchored bool
	glob     bool // compiled for the Glob strategy
}

// strategy is the engine the pattern was compiled for.
func (p *Pattern) strategy() Strategy {
	if p.glob {
		return Glob
	}
	return Regexp
}

// prefix is the literal text before the first '<' (the whole pattern when
// it has no delimiters). Every matching string starts with it, which is
// what lets Index skip most patterns without running them.
func (p *Pattern) prefix() string { return p.Canonical()[:p.prefixLen] }

// scheme and host are prefix's literal authority when anchored is true.
func (p *Pattern) scheme() string { return p.Canonical()[:p.schemeLen] }

func (p *Pattern) host() string {
	at := p.schemeLen + uint32(len("://"))
	return p.Canonical()[at : at+p.hostLen]
}

// pathLit is the literal text from the first '/' after the authority up
// to the next "<...>": the pattern's literal path prefix, which the case
// guard (Index.CaseVariants) compares case-insensitively. Empty when the
// path does not start in literal text.
func (p *Pattern) pathLit() string { return p.Canonical()[p.pathAt : p.pathAt+p.pathLen] }

// matcher is one compiled engine. Captures follow Oathkeeper's
// RegexpCaptureGroups: every group in group-number order, never nil on a
// match (an empty slice when there are none).
type matcher interface {
	match(s string) (captures []string, ok bool, err error)
	// retainsInput reports whether the captures or the engine may keep
	// references into s after match returns. When false, Lookup may pass
	// a string backed by a reused buffer.
	retainsInput() bool
}

// noCaptures is the shared empty, non-nil result for matches without
// groups. It lets a match without groups avoid allocating.
var noCaptures = []string{}

// Compile compiles one match.url under strategy (empty means Regexp).
// Errors name the problem: unbalanced "<>" delimiters, a "<...>" part that
// is not a valid expression, or an unknown strategy.
func Compile(strategy Strategy, pattern string) (*Pattern, error) {
	s, err := ParseStrategy(string(strategy))
	if err != nil {
		return nil, fmt.Errorf("compile pattern %q: %w", pattern, err)
	}
	t, err := parseTemplate(pattern)
	if err != nil {
		return nil, fmt.Errorf("compile pattern %q: %w", pattern, err)
	}
	p := &Pattern{raw: pattern, glob: s == Glob}
	pathIdx, pathOff, _ := canonicalAuthority(t)
	canonical := t.String()
	if canonical != pattern {
		p.canon = canonical
	}
	// Everything the Pattern keeps is a substring of canonical, so that
	// a compiled pattern costs little more than its text.
	t = t.within(p.Canonical())
	if pathIdx >= 0 {
		p.pathAt = uint32(t.litStart(pathIdx) + pathOff)
		p.pathLen = uint32(len(t.lits[pathIdx]) - pathOff)
	}
	p.prefixLen = uint32(len(t.lits[0]))
	scheme, host, anchored := splitAuthority(t.lits[0], len(t.vars) == 0)
	p.schemeLen, p.hostLen, p.anchored = uint32(len(scheme)), uint32(len(host)), anchored
	switch {
	case len(t.vars) == 0:
		// Both engines quote literal text and anchor it, so a pattern
		// without delimiters is plain string equality.
		p.m = literalMatcher(p.Canonical())
	case s == Glob:
		p.m, err = compileGlob(t)
	default:
		if m := compileParts(t, p.Canonical()); m != nil {
			p.m = m
			break
		}
		p.m, err = compileRegexp(t)
	}
	if err != nil {
		return nil, fmt.Errorf("compile pattern %q: %w", pattern, err)
	}
	return p, nil
}

// Match reports whether s, a string built by MatchString, matches the
// whole pattern, with Oathkeeper's capture groups. err is non-nil only when
// a backtracking regexp hit its limits (ErrMatchLimit); that is never a
// match, and callers must deny.
func (p *Pattern) Match(s string) (captures []string, ok bool, err error) {
	if !strings.HasPrefix(s, p.prefix()) {
		return nil, false, nil
	}
	return p.m.match(s)
}

// String returns the pattern as written in the rule.
func (p *Pattern) String() string { return p.raw }

// Canonical returns the pattern as it is matched: String with its literal
// scheme and host lower-cased and, when both are literal, the host in
// CanonicalHost form (no trailing dot, no default port). Requests are
// matched with a canonical host, so a rule written "https://API.test:443/x"
// applies to api.test, as Envoy's virtual host routing would.
func (p *Pattern) Canonical() string {
	if p.canon != "" {
		return p.canon
	}
	return p.raw
}

// HostError is non-nil when the pattern's literal host is one that
// CanonicalHost refuses, so the pattern can never match a request; it
// says why.
func (p *Pattern) HostError() error {
	// Only a literal scheme and host are checked, and then Compile keeps
	// the host in canonical form, or lower-cased if it is refused:
	// CanonicalHost ignores case, so it tells which at no cost. The
	// error itself quotes the host as written.
	if !p.anchored {
		return nil
	}
	if _, err := CanonicalHost(p.scheme(), p.host()); err == nil {
		return nil
	}
	t, err := parseTemplate(p.raw)
	if err != nil {
		return nil
	}
	_, _, hostErr := canonicalAuthority(t)
	return hostErr
}

// canonicalAuthority rewrites t in place so that its literal scheme and
// authority text are lower-case, and, when scheme and host are both
// literal, the host is in CanonicalHost form. The authority starts after
// the first "://" in a literal and ends at the next '/' in a literal;
// "<...>" parts are left alone (write them in lower case). The literal
// path prefix that follows the authority is t.lits[pathIdx][pathOff:]
// afterwards (pathIdx is -1 when there is none). hostErr is the reason a
// literal host can never match, if it cannot.
func canonicalAuthority(t template) (pathIdx, pathOff int, hostErr error) {
	k, off := -1, -1
	for i, l := range t.lits {
		if off = strings.Index(l, "://"); off >= 0 {
			k = i
			break
		}
	}
	if k < 0 {
		return -1, 0, nil
	}
	t.lits[k] = lowerASCII(t.lits[k][:off]) + t.lits[k][off:]
	start := off + len("://")
	for i := k; i < len(t.lits); i, start = i+1, 0 {
		l := t.lits[i]
		end := strings.IndexByte(l[start:], '/')
		if end < 0 {
			end = len(l)
		} else {
			end += start
		}
		host := lowerASCII(l[start:end])
		if i == 0 && (end < len(l) || len(t.vars) == 0) {
			// Scheme and host are both literal.
			if canon, err := CanonicalHost(l[:off], host); err != nil {
				hostErr = err
			} else {
				host = canon
			}
		}
		t.lits[i] = l[:start] + host + l[end:]
		if end < len(l) {
			return i, start + len(host), hostErr
		}
	}
	return -1, 0, hostErr
}

// lowerASCII lower-cases the ASCII letters of s, without allocating when
// there are none.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// splitAuthority finds the "scheme://host" at the start of s: scheme is the
// text before the first "://" and host runs to the next '/'. When s is only
// a prefix of what may match (whole is false), a host without a following
// '/' may continue into a "<...>" part, so it is not literal and ok is
// false. Patterns and requests are split by this same rule, which is what
// makes bucketing exact: a string starts with a pattern's prefix only if
// both split into the same scheme and host.
func splitAuthority(s string, whole bool) (scheme, host string, ok bool) {
	i := strings.Index(s, "://")
	if i < 0 {
		return "", "", false
	}
	rest := s[i+len("://"):]
	j := strings.IndexByte(rest, '/')
	if j < 0 {
		if !whole {
			return "", "", false
		}
		j = len(rest)
	}
	return s[:i], rest[:j], true
}

// literalMatcher is a pattern without "<...>": string equality.
type literalMatcher string

func (l literalMatcher) match(s string) ([]string, bool, error) {
	if s != string(l) {
		return nil, false, nil
	}
	return noCaptures, true, nil
}

func (literalMatcher) retainsInput() bool { return false }
