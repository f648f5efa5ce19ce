package match

import (
	"fmt"
	"strings"
)

// MissPart names the part of a request where it first departs from a
// pattern.
type MissPart string

// The parts Pattern.Miss reports.
const (
	MissScheme      MissPart = "scheme"
	MissHost        MissPart = "host"
	MissPathSegment MissPart = "path_segment"
	// MissPattern: the pattern's literal text matches, a "<...>" part
	// (or what follows it) does not.
	MissPattern MissPart = "pattern"
)

// Miss says why a pattern does not match a request. It is for people
// (explain), not for matching: Index and Pattern.Match decide.
type Miss struct {
	// Part is where the request first departs from the pattern.
	Part MissPart
	// Detail is one line naming what the pattern wants and what the
	// request has.
	Detail string
	// Matched is how many bytes of the match string agree with the
	// pattern's literal prefix: the larger, the nearer the miss.
	Matched int
}

// Miss explains why the request (scheme, canonical host, normalised
// path) does not match p, assuming it does not: it compares the match
// string with the pattern's literal prefix (the text before its first
// "<...>") and names the first part where they differ. Patterns whose
// authority is a "<...>" part can only miss as MissPattern.
func (p *Pattern) Miss(scheme, host, path string) Miss {
	s := MatchString(scheme, host, path)
	lit := p.prefix()
	n := 0
	for n < len(s) && n < len(lit) && s[n] == lit[n] {
		n++
	}
	if n == len(lit) {
		rest := p.Canonical()[len(lit):]
		if rest == "" {
			// A literal pattern the request extends.
			return Miss{Part: MissPathSegment, Matched: n,
				Detail: fmt.Sprintf("the pattern ends at %q; the request goes on with %q", lit, s[n:])}
		}
		return Miss{Part: MissPattern, Matched: n,
			Detail: fmt.Sprintf("%q does not match %q", s[n:], rest)}
	}
	authStart := strings.Index(lit, "://")
	if authStart < 0 || n < authStart+len("://") {
		return Miss{Part: MissScheme, Matched: n,
			Detail: fmt.Sprintf("the pattern wants %s, the request is %s", upTo(lit, "://"), scheme)}
	}
	authStart += len("://")
	authEnd := len(lit)
	if i := strings.IndexByte(lit[authStart:], '/'); i >= 0 {
		authEnd = authStart + i
	}
	if n < authEnd || (n == authEnd && len(lit) > authEnd && len(s) > n && s[n] != '/') {
		want := lit[authStart:authEnd]
		if authEnd == len(lit) && len(p.Canonical()) > len(lit) {
			want += "…"
		}
		return Miss{Part: MissHost, Matched: n,
			Detail: fmt.Sprintf("the pattern wants host %s, the request has %s", want, host)}
	}
	// Inside the literal path: name the first segment that differs.
	litPath, reqPath := lit[authEnd:], s[authEnd:]
	seg := strings.Count(lit[authEnd:n], "/")
	if n == len(s) && lit[n] == '/' {
		seg++ // the request path ends where the pattern's next segment starts
	}
	want := segment(litPath, seg)
	if end := authEnd + segEnd(litPath, seg); end == len(lit) && len(p.Canonical()) > len(lit) {
		want += "<" + strings.TrimPrefix(p.Canonical()[len(lit):], "<")
		if i := strings.IndexByte(want, '/'); i >= 0 {
			want = want[:i]
		}
	}
	got, ok := segmentOK(reqPath, seg)
	if !ok {
		return Miss{Part: MissPathSegment, Matched: n,
			Detail: fmt.Sprintf("path segment %d: the pattern wants %q, the request path ends before it", seg, want)}
	}
	return Miss{Part: MissPathSegment, Matched: n,
		Detail: fmt.Sprintf("path segment %d: the pattern wants %q, the request has %q", seg, want, got)}
}

// upTo is s up to sep, or s.
func upTo(s, sep string) string {
	before, _, _ := strings.Cut(s, sep)
	return before
}

// segment returns segment i of a path ("/a/b": 1 is "a").
func segment(p string, i int) string {
	s, _ := segmentOK(p, i)
	return s
}

func segmentOK(p string, i int) (string, bool) {
	parts := strings.Split(p, "/")
	if i >= len(parts) {
		return "", false
	}
	return parts[i], true
}

// segEnd is the offset in p where segment i ends.
func segEnd(p string, i int) int {
	off := 0
	for k := 0; k <= i; k++ {
		j := strings.IndexByte(p[off:], '/')
		if k == i {
			if j < 0 {
				return len(p)
			}
			return off + j
		}
		if j < 0 {
			return len(p)
		}
		off += j + 1
	}
	return len(p)
}
