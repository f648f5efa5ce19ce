package match

import (
	"strings"
	"sync"
	"unsafe"
)

// MatchString returns scheme+"://"+host+path, the string patterns are
// matched against. The query is never part of it (SECURITY_CASES B-06).
func MatchString(scheme, host, path string) string {
	return scheme + "://" + host + path
}

// plainAuthority reports whether splitAuthority(MatchString(scheme, host,
// path)) would give back scheme and host, which is true of every sane
// request and lets Lookup find the bucket without building the match
// string.
func plainAuthority(scheme, host, path string) bool {
	return !strings.ContainsAny(scheme, ":/") &&
		strings.IndexByte(host, '/') < 0 &&
		(path == "" || path[0] == '/')
}

// requestString builds the match string of one Lookup at most once in each
// of two forms. full is an ordinary string, for engines whose captures are
// substrings of their input. view is backed by a pooled buffer and is valid
// only until release; it is for engines that keep nothing (glob, literal,
// RE2 without groups), and is what lets Lookup avoid allocating.
type requestString struct {
	scheme, host, path string

	fullStr string
	viewStr string
	buf     *viewBuf
}

// viewBuf is large enough for nearly every request; longer match strings
// are built as ordinary strings instead.
type viewBuf [1024]byte

var viewBufs = sync.Pool{New: func() any { return new(viewBuf) }}

func (m *requestString) full() string {
	if m.fullStr == "" {
		m.fullStr = MatchString(m.scheme, m.host, m.path)
	}
	return m.fullStr
}

func (m *requestString) view() string {
	switch {
	case m.fullStr != "":
		return m.fullStr
	case m.viewStr != "":
		return m.viewStr
	}
	n := len(m.scheme) + len("://") + len(m.host) + len(m.path)
	if n > len(viewBuf{}) {
		return m.full()
	}
	m.buf = viewBufs.Get().(*viewBuf)
	b := append(m.buf[:0], m.scheme...)
	b = append(b, "://"...)
	b = append(b, m.host...)
	b = append(b, m.path...)
	m.viewStr = unsafe.String(&b[0], len(b))
	return m.viewStr
}

// substring returns full()[i:j], without building full when the text
// lies within the scheme, the host or the path: then it is a substring
// of that argument.
func (m *requestString) substring(i, j int) string {
	if m.fullStr != "" {
		return m.fullStr[i:j]
	}
	hostAt := len(m.scheme) + len("://")
	pathAt := hostAt + len(m.host)
	switch {
	case j <= len(m.scheme):
		return m.scheme[i:j]
	case i >= hostAt && j <= pathAt:
		return m.host[i-hostAt : j-hostAt]
	case i >= pathAt:
		return m.path[i-pathAt : j-pathAt]
	}
	return m.full()[i:j]
}

// release returns the view's buffer. No string from view may be used
// afterwards, which is why only engines that keep nothing receive it.
func (m *requestString) release() {
	if m.buf != nil {
		m.viewStr = ""
		viewBufs.Put(m.buf)
		m.buf = nil
	}
}
