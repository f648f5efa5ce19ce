package match

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// ErrMatchLimit is returned (wrapped) by Match and Lookup when a
// backtracking regexp exceeded its time or stack limit. It is never a
// match: callers deny, as Oathkeeper answers 500.
var ErrMatchLimit = errors.New("regexp match exceeded its time or backtracking limit")

// matchTimeout bounds one regexp2 match. Oathkeeper (ladon) uses 250ms; a
// request should never wait that long in ext_authz.
const matchTimeout = 100 * time.Millisecond

// compileRegexp compiles a regexp-strategy template with Go's RE2 engine
// and falls back to regexp2, exactly as ory/ladon compiles it, only when
// RE2 cannot express the pattern.
func compileRegexp(t template) (matcher, error) {
	if m := compileRE2(t); m != nil {
		return m, nil
	}
	return compileBacktracking(t)
}

// regexpSource builds ladon's expression: literals quoted, each top-level
// part a capture group, the whole anchored.
func regexpSource(t template) string {
	var b strings.Builder
	b.WriteByte('^')
	b.WriteString(regexp.QuoteMeta(t.lits[0]))
	for i, v := range t.vars {
		b.WriteByte('(')
		b.WriteString(v)
		b.WriteByte(')')
		b.WriteString(regexp.QuoteMeta(t.lits[i+1]))
	}
	b.WriteByte('$')
	return b.String()
}

// compileRE2 returns nil when the pattern needs regexp2. Both engines pick
// the leftmost-first match, so where RE2 accepts a pattern the match and
// its groups are the ones regexp2 would give.
func compileRE2(t template) matcher {
	// ladon compiles each part on its own first, so that a part cannot
	// close its group and open another ("<a)|(.*>") to defeat anchoring.
	// The group count check below guards the same thing a second way.
	want := len(t.vars)
	for _, v := range t.vars {
		re, err := regexp.Compile("^" + v + "$")
		if err != nil {
			return nil
		}
		want += re.NumSubexp()
	}
	re, err := regexp.Compile(regexpSource(t))
	if err != nil || re.NumSubexp() != want {
		return nil
	}
	order, ok := dotNetGroupOrder(re.SubexpNames())
	if !ok {
		return nil
	}
	return &re2Matcher{re: re, groups: re.NumSubexp(), order: order}
}

// dotNetGroupOrder maps Oathkeeper's capture order onto Go's. regexp2
// numbers unnamed groups first and named groups after them (the .NET
// rule), while Go numbers all groups by their opening parenthesis. It
// returns nil when the orders agree, and ok false for numeric group names,
// whose .NET meaning (an explicit group number) RE2 cannot reproduce.
func dotNetGroupOrder(names []string) (order []int, ok bool) {
	var unnamed, named []int
	for i, name := range names[1:] {
		switch {
		case name == "":
			unnamed = append(unnamed, i+1)
		case strings.Trim(name, "0123456789") == "":
			return nil, false
		default:
			named = append(named, i+1)
		}
	}
	if len(named) == 0 {
		return nil, true
	}
	return append(unnamed, named...), true
}

// re2Matcher runs Go's linear-time engine.
type re2Matcher struct {
	re     *regexp.Regexp
	groups int
	order  []int // group numbers in Oathkeeper's order; nil means 1..groups
}

func (m *re2Matcher) match(s string) ([]string, bool, error) {
	if m.groups == 0 {
		// MatchString does not allocate; FindStringSubmatch does.
		if !m.re.MatchString(s) {
			return nil, false, nil
		}
		return noCaptures, true, nil
	}
	sub := m.re.FindStringSubmatch(s)
	if sub == nil {
		return nil, false, nil
	}
	if m.order == nil {
		return sub[1:], true, nil
	}
	caps := make([]string, len(m.order))
	for i, g := range m.order {
		caps[i] = sub[g]
	}
	return caps, true, nil
}

// retainsInput is true when there are groups: they are substrings of s.
func (m *re2Matcher) retainsInput() bool { return m.groups > 0 }

// compileBacktracking is ladon's CompileRegex over regexp2, with the RE2
// option so that POSIX classes and RE2 escapes mean what they mean in Go.
func compileBacktracking(t template) (matcher, error) {
	for _, v := range t.vars {
		if _, err := regexp2.Compile("^"+v+"$", regexp2.RE2); err != nil {
			return nil, fmt.Errorf("<%s>: %w", v, err)
		}
	}
	re, err := regexp2.Compile(regexpSource(t), regexp2.RE2)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = matchTimeout
	return &backtrackMatcher{re: re}, nil
}

// backtrackMatcher runs regexp2.
type backtrackMatcher struct {
	re *regexp2.Regexp
}

func (m *backtrackMatcher) match(s string) ([]string, bool, error) {
	res, err := m.re.FindStringMatch(s)
	if err != nil {
		// regexp2's message quotes the whole input, which is attacker
		// controlled; the decision log gets the pattern instead.
		return nil, false, fmt.Errorf("match %q: %w", m.re.String(), ErrMatchLimit)
	}
	if res == nil {
		return nil, false, nil
	}
	groups := res.Groups()[1:]
	if len(groups) == 0 {
		return noCaptures, true, nil
	}
	caps := make([]string, len(groups))
	for i := range groups {
		caps[i] = groups[i].String()
	}
	return caps, true, nil
}

// retainsInput is true: a regexp2 Match keeps its input.
func (m *backtrackMatcher) retainsInput() bool { return true }
