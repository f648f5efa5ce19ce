package match

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// partInfo is what is known about one "<...>" part on its own, for two
// uses: Compile runs the common regexp shapes without a regexp engine
// (partsMatcher), and NewIndex buckets patterns whose scheme or host is a
// "<...>" part by the host they can match (indexKeys).
//
// A partInfo is shared between every pattern with the same part text and
// never modified.
type partInfo struct {
	// alts is the part's whole language when it is a finite set of
	// literal strings without groups inside ("http|https", "https?",
	// glob "{http,https}"), in the order a backtracking engine tries
	// them, without repeats. nil otherwise.
	alts []string
	// run is set when the part is one character class repeated, C* or
	// C+ (".*", "[0-9]+", "[^/]+"), under the regexp strategy.
	run *runClass
	// noColon and noSlash are true when no string the part matches
	// contains ':', or '/'.
	noColon, noSlash bool
}

// runClass is a set of runes, repeated: the part matches any run of
// them, at least one when min1.
type runClass struct {
	ascii [2]uint64 // runes below utf8.RuneSelf, one bit each
	// ranges are the lo, hi pairs of the other runes, sorted.
	ranges []rune
	min1   bool
	// notNL is set for '.' (any rune but '\n'), which scans faster.
	notNL bool
}

// Limits of the analysis: parts beyond them are left to the regexp
// engine and to the Index's wildcard list, which are always correct.
const (
	maxAlts       = 16   // alternatives in one finite part
	maxParts      = 8    // "<...>" parts in a partsMatcher
	maxPartsTries = 256  // product of the alternatives of a partsMatcher
	maxPartsLen   = 4096 // pattern length for a partsMatcher
	maxPartLen    = 256  // part length worth analysing
	partCacheMax  = 4096 // distinct parts cached
)

type partKey struct {
	strategy Strategy
	expr     string
}

// partCache shares the analysis, and its memory, between the patterns of
// a rule set, which mostly repeat a handful of parts ("http|https",
// ".*"). It stops growing at partCacheMax entries; later parts are
// analysed each time.
var partCache = newBoundedCache[partKey, *partInfo](partCacheMax)

// noInfo is the analysis of a part nothing is known about.
var noInfo = &partInfo{}

// analysePart returns what is known about the part expr under strategy.
// It never returns nil.
func analysePart(strategy Strategy, expr string) *partInfo {
	if len(expr) > maxPartLen {
		return noInfo
	}
	key := partKey{strategy, expr}
	if info, ok := partCache.get(key); ok {
		return info
	}
	var info *partInfo
	if strategy == Glob {
		info = analyseGlobPart(expr)
	} else {
		info = analyseRegexpPart(expr)
	}
	key.expr = strings.Clone(expr) // expr may pin a whole rule file
	partCache.put(key, info)
	return info
}

// analyseRegexpPart parses expr as Go's regexp package does.
func analyseRegexpPart(expr string) *partInfo {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return noInfo
	}
	re = re.Simplify()
	info := &partInfo{
		noColon: !mayContain(re, ':'),
		noSlash: !mayContain(re, '/'),
	}
	if alts, ok := literals(re); ok {
		info.alts = dedupe(alts)
	}
	if re.Op == syntax.OpStar || re.Op == syntax.OpPlus {
		info.run = newRunClass(re.Sub[0], re.Op == syntax.OpPlus)
	}
	if info.alts == nil && info.run == nil && !info.noColon && !info.noSlash {
		return noInfo
	}
	return info
}

// literals enumerates the language of re when it is finite and small, in
// the order a backtracking engine tries the strings. Groups inside make
// it refuse: their captures would be lost.
func literals(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if len(out) == maxAlts {
					return nil, false
				}
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			next, ok := literals(sub)
			if !ok || len(out)*len(next) > maxAlts {
				return nil, false
			}
			// The first element's choice is the outer loop: a
			// backtracking engine revisits it last.
			prod := make([]string, 0, len(out)*len(next))
			for _, a := range out {
				for _, b := range next {
					prod = append(prod, a+b)
				}
			}
			out = prod
		}
		return out, true
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			next, ok := literals(sub)
			if !ok || len(out)+len(next) > maxAlts {
				return nil, false
			}
			out = append(out, next...)
		}
		return out, true
	case syntax.OpQuest:
		sub, ok := literals(re.Sub[0])
		if !ok || len(sub) == maxAlts {
			return nil, false
		}
		if re.Flags&syntax.NonGreedy != 0 {
			return append([]string{""}, sub...), true
		}
		return append(sub, ""), true
	}
	return nil, false
}

// dedupe keeps the first of repeated strings: a later repeat can only
// succeed where the first already did.
func dedupe(alts []string) []string {
	out := alts[:0]
	for _, a := range alts {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return slices.Clip(out)
}

// mayContain reports whether some string re matches may contain c, an
// ASCII punctuation rune. It may say yes when the answer is no.
func mayContain(re *syntax.Regexp, c rune) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return slices.Contains(re.Rune, c)
	case syntax.OpCharClass:
		return inRanges(re.Rune, c)
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return true
	}
	for _, sub := range re.Sub {
		if mayContain(sub, c) {
			return true
		}
	}
	return false
}

// newRunClass returns the class re matches one rune of, or nil when re is
// not a single-rune expression.
func newRunClass(re *syntax.Regexp, min1 bool) *runClass {
	var ranges []rune
	c := &runClass{min1: min1}
	switch {
	case re.Op == syntax.OpAnyCharNotNL:
		c.notNL = true
		ranges = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
	case re.Op == syntax.OpAnyChar:
		ranges = []rune{0, unicode.MaxRune}
	case re.Op == syntax.OpCharClass:
		ranges = re.Rune
	case re.Op == syntax.OpLiteral && len(re.Rune) == 1 && re.Flags&syntax.FoldCase == 0:
		ranges = []rune{re.Rune[0], re.Rune[0]}
	default:
		return nil
	}
	for i := 0; i < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		for r := lo; r <= hi && r < utf8.RuneSelf; r++ {
			c.ascii[r/64] |= 1 << (r % 64)
		}
		if hi >= utf8.RuneSelf {
			c.ranges = append(c.ranges, max(lo, utf8.RuneSelf), hi)
		}
	}
	return c
}

func (c *runClass) has(r rune) bool {
	if r < utf8.RuneSelf {
		return c.ascii[r/64]&(1<<(r%64)) != 0
	}
	return inRanges(c.ranges, r)
}

// inRanges reports whether r is in one of the sorted lo, hi pairs.
func inRanges(ranges []rune, r rune) bool {
	for i := 0; i < len(ranges); i += 2 {
		if r < ranges[i] {
			return false
		}
		if r <= ranges[i+1] {
			return true
		}
	}
	return false
}

// scan returns the end of the longest run of c's runes in s starting at
// pos. Runes are decoded as Go's regexp package decodes them: an invalid
// byte is U+FFFD, one byte wide.
func (c *runClass) scan(s string, pos int) int {
	if c.notNL {
		// '\n' is never part of a multi-byte sequence, so the run ends
		// at the first '\n' byte.
		if i := strings.IndexByte(s[pos:], '\n'); i >= 0 {
			return pos + i
		}
		return len(s)
	}
	for pos < len(s) {
		r, w := rune(s[pos]), 1
		if r >= utf8.RuneSelf {
			r, w = utf8.DecodeRuneInString(s[pos:])
		}
		if !c.has(r) {
			return pos
		}
		pos += w
	}
	return pos
}

// analyseGlobPart knows one glob shape: a literal ("http") or a set of
// literal alternatives ("{http,https}"). Other parts ('*' included, whose
// reach depends on gobwas's optimiser, see compileGlob) are left alone.
func analyseGlobPart(expr string) *partInfo {
	const special = `*?[]{}\,!`
	var alts []string
	switch {
	case !strings.ContainsAny(expr, special):
		alts = []string{expr}
	case len(expr) >= 2 && expr[0] == '{' && expr[len(expr)-1] == '}':
		alts = strings.Split(expr[1:len(expr)-1], ",")
		if len(alts) > maxAlts {
			return noInfo
		}
		for _, a := range alts {
			if a == "" || strings.ContainsAny(a, special) {
				return noInfo
			}
		}
	default:
		return noInfo
	}
	info := &partInfo{alts: dedupe(alts), noColon: true, noSlash: true}
	for _, a := range info.alts {
		info.noColon = info.noColon && !strings.Contains(a, ":")
		info.noSlash = info.noSlash && !strings.Contains(a, "/")
	}
	return info
}

// partsMatcher runs a regexp-strategy pattern whose parts are all finite
// sets or character-class runs without the regexp engine, with the same
// answer and captures as RE2 (leftmost-first over the anchored pattern),
// in a fraction of the memory: the common rule "<http|https>://host/
// svc/<.*>" is two string comparisons and a scan for '\n'.
//
// Its search backtracks over the alternatives of finite parts, in the
// order the regexp engine prefers them. A run never needs to: it is the
// last part, or the literal after it starts with a rune outside its
// class, so it can only end where its class does.
type partsMatcher struct {
	text  string // the canonical pattern
	parts []partSpan
}

// partSpan is one "<...>" part: text[at:end], delimiters included.
type partSpan struct {
	info    *partInfo
	at, end uint32
}

// lit returns the literal before part i, or the last one when i is
// len(m.parts): template.lits[i].
func (m *partsMatcher) lit(i int) string {
	start, stop := 0, len(m.text)
	if i > 0 {
		start = int(m.parts[i-1].end)
	}
	if i < len(m.parts) {
		stop = int(m.parts[i].at)
	}
	return m.text[start:stop]
}

// template returns the literals and the analysis of the parts.
func (m *partsMatcher) template() (lits []string, parts []*partInfo) {
	lits, parts = make([]string, 0, len(m.parts)+1), make([]*partInfo, 0, len(m.parts))
	for i, sp := range m.parts {
		lits, parts = append(lits, m.lit(i)), append(parts, sp.info)
	}
	return append(lits, m.lit(len(m.parts))), parts
}

// spans holds the start and end of each part's capture.
type spans [2 * maxParts]int

// compileParts returns a partsMatcher for t, whose text is t.String(),
// or nil when t has a part that is neither a finite set nor a run in a
// place where it cannot backtrack.
func compileParts(t template, text string) *partsMatcher {
	n := len(t.vars)
	if n == 0 || n > maxParts {
		return nil
	}
	off, tries := 0, 1 // off: where t.lits[i] starts in text
	m := &partsMatcher{text: text, parts: make([]partSpan, n)}
	for _, l := range t.lits {
		if !utf8.ValidString(l) {
			return nil // RE2 refuses it; regexp2 decides
		}
	}
	for i, v := range t.vars {
		info := analysePart(Regexp, v)
		next := t.lits[i+1]
		switch {
		case info.alts != nil:
			tries *= len(info.alts)
		case info.run == nil:
			return nil
		case next == "" && i != n-1:
			return nil
		case next != "":
			if r, _ := utf8.DecodeRuneInString(next); info.run.has(r) {
				return nil
			}
		}
		at := off + len(t.lits[i])
		off = at + len(v) + len("<>")
		m.parts[i] = partSpan{info: info, at: uint32(at), end: uint32(off)}
	}
	// Beyond these bounds the regexp engine decides, as before: sizes
	// keep Compile's acceptance identical to RE2's.
	if tries > maxPartsTries || len(text) > maxPartsLen {
		return nil
	}
	return m
}

// locate matches s and fills sp with the captures' bounds.
func (m *partsMatcher) locate(s string, sp *spans) bool {
	first := m.lit(0)
	if !strings.HasPrefix(s, first) {
		return false
	}
	return m.from(s, 0, len(first), sp)
}

// from matches part i and what follows it at pos.
func (m *partsMatcher) from(s string, i, pos int, sp *spans) bool {
	if i == len(m.parts) {
		return pos == len(s)
	}
	next, info := m.lit(i+1), m.parts[i].info
	if info.run != nil {
		end := info.run.scan(s, pos)
		if end == pos && info.run.min1 || !strings.HasPrefix(s[end:], next) {
			return false
		}
		sp[2*i], sp[2*i+1] = pos, end
		return m.from(s, i+1, end+len(next), sp)
	}
	for _, a := range info.alts {
		rest := s[pos:]
		if strings.HasPrefix(rest, a) && strings.HasPrefix(rest[len(a):], next) {
			sp[2*i], sp[2*i+1] = pos, pos+len(a)
			if m.from(s, i+1, pos+len(a)+len(next), sp) {
				return true
			}
		}
	}
	return false
}

func (m *partsMatcher) match(s string) ([]string, bool, error) {
	var sp spans
	if !m.locate(s, &sp) {
		return nil, false, nil
	}
	caps := make([]string, len(m.parts))
	for i := range caps {
		caps[i] = s[sp[2*i]:sp[2*i+1]]
	}
	return caps, true, nil
}

// retainsInput is true: captures are substrings of s. Lookup avoids
// building s by calling locate on a view instead (lookup.try).
func (m *partsMatcher) retainsInput() bool { return true }
