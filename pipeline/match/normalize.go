package match

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrMalformedPath is wrapped by every NormalizePath error. The caller
// denies with 400 "malformed_request" before any rule is evaluated.
var ErrMalformedPath = errors.New("malformed path")

// NormalizePath turns Envoy's raw :path, with the query already split off,
// into the path rules are matched against. Call it exactly once per
// request: its output is decoded, and decoding it again would be the double
// decoding SECURITY_CASES B-03 warns about.
//
// It keeps Oathkeeper's path.Clean behaviour (GHSA-p224-6x5r-fjpm): dot
// segments are resolved, "//" collapses, a trailing slash is removed and
// the empty path stays empty. Before that it percent-decodes exactly once,
// so "/adm%69n" is "/admin" (B-26), and it rejects what an upstream may
// read differently from us:
//   - "%2F" and "%5C", which would be a separator to some upstreams and
//     not to others, and a raw backslash (B-04);
//   - double encoding: "%25" followed by two hex digits ("%252e",
//     "%252F", "%25%32%65"), which an upstream that decodes once more
//     reads as a dot, a separator or any other byte (B-03);
//   - ';', in any spelling: servlet containers strip ";params" (B-08);
//   - control characters and DEL after decoding, a raw '?', which means
//     the query was not split off (B-06), and a raw '#': a request
//     target has no fragment, so whatever follows it is refused rather
//     than cut off;
//   - invalid or overlong UTF-8 (B-16); valid non-ASCII is kept as is,
//     never NFKC-folded;
//   - a segment with leading or trailing white space, or one ending in
//     '.' other than the "." and ".." dot segments, which some servers
//     trim (B-10);
//   - a non-empty path that does not start with '/' ("*", absolute form).
//
// A clean path without escapes is returned without allocating.
func NormalizePath(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	if raw[0] != '/' {
		return "", fmt.Errorf("%w: does not start with '/'", ErrMalformedPath)
	}
	decoded := raw
	if !plainASCII(raw) {
		var err error
		if decoded, err = decodeOnce(raw); err != nil {
			return "", err
		}
		if err := checkRunes(decoded); err != nil {
			return "", err
		}
		if err := checkDoubleEncoding(decoded); err != nil {
			return "", err
		}
	}
	clean, err := checkSegments(decoded)
	if err != nil {
		return "", err
	}
	if clean {
		return decoded, nil
	}
	return path.Clean(decoded), nil
}

// plainASCII reports whether raw has only printable ASCII other than the
// bytes decodeOnce must look at, so that neither decoding nor UTF-8 checks
// are needed. It is the common case.
func plainASCII(raw string) bool {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c < 0x20 || c >= 0x7f || c == '%' || c == '\\' || c == ';' || c == '?' || c == '#' {
			return false
		}
	}
	return true
}

// decodeOnce percent-decodes raw a single time, rejecting bytes that are
// unsafe raw or encoded. It returns raw itself when there is no escape.
func decodeOnce(raw string) (string, error) {
	var b strings.Builder // empty until the first escape
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			if err := checkByte(c, i); err != nil {
				return "", err
			}
			if b.Cap() > 0 {
				b.WriteByte(c)
			}
			continue
		}
		if i+2 >= len(raw) || !isHex(raw[i+1]) || !isHex(raw[i+2]) {
			return "", fmt.Errorf("%w: invalid percent-encoding at byte %d", ErrMalformedPath, i)
		}
		d := unhex(raw[i+1])<<4 | unhex(raw[i+2])
		switch d {
		case '/', '\\':
			return "", fmt.Errorf("%w: encoded slash or backslash at byte %d", ErrMalformedPath, i)
		case '?', '#':
			// Encoded, these are ordinary path characters.
		default:
			if err := checkByte(d, i); err != nil {
				return "", err
			}
		}
		if b.Cap() == 0 {
			b.Grow(len(raw))
			b.WriteString(raw[:i])
		}
		b.WriteByte(d)
		i += 2
	}
	if b.Cap() == 0 {
		return raw, nil
	}
	return b.String(), nil
}

// checkByte rejects a single unsafe byte at offset i of the raw path.
func checkByte(c byte, i int) error {
	switch {
	case c < 0x20 || c == 0x7f:
		return fmt.Errorf("%w: control character at byte %d", ErrMalformedPath, i)
	case c == '\\':
		return fmt.Errorf("%w: backslash at byte %d", ErrMalformedPath, i)
	case c == ';':
		return fmt.Errorf("%w: ';' at byte %d", ErrMalformedPath, i)
	case c == '?':
		return fmt.Errorf("%w: unencoded '?' at byte %d, query not split off", ErrMalformedPath, i)
	case c == '#':
		return fmt.Errorf("%w: '#' at byte %d: a request target has no fragment", ErrMalformedPath, i)
	}
	return nil
}

// checkDoubleEncoding rejects a decoded '%' followed by two hex digits.
// decodeOnce has run, so every '%' left came from "%25": the raw path
// encoded an escape, which an upstream decoding again would act on.
func checkDoubleEncoding(decoded string) error {
	for i := 0; i < len(decoded); i++ {
		if decoded[i] == '%' && i+2 < len(decoded) && isHex(decoded[i+1]) && isHex(decoded[i+2]) {
			return fmt.Errorf("%w: double percent-encoding %q", ErrMalformedPath, decoded[i:i+3])
		}
	}
	return nil
}

// PathLimits bounds the raw request path. Both front doors check them
// before NormalizePath runs, so that a path too long to be sane costs no
// decoding and no rule matching. A zero field means no limit.
type PathLimits struct {
	// MaxLength is the most bytes of the raw path, query excluded.
	MaxLength int
	// MaxSegments is the most '/'-separated segments of the raw path,
	// counted before dot segments are resolved, so "/a/../b" has three.
	MaxSegments int
}

// Check returns an error wrapping ErrMalformedPath when raw exceeds l.
func (l PathLimits) Check(raw string) error {
	if l.MaxLength > 0 && len(raw) > l.MaxLength {
		return fmt.Errorf("%w: %d bytes, more than the %d allowed (access_rules.max_path_length)", ErrMalformedPath, len(raw), l.MaxLength)
	}
	if l.MaxSegments > 0 {
		if n := strings.Count(raw, "/"); n > l.MaxSegments {
			return fmt.Errorf("%w: %d segments, more than the %d allowed (access_rules.max_path_segments)", ErrMalformedPath, n, l.MaxSegments)
		}
	}
	return nil
}

// checkRunes rejects invalid UTF-8 (utf8 rejects overlong forms and
// surrogates too) and the C1 control characters U+0080 to U+009F.
func checkRunes(s string) error {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Errorf("%w: invalid UTF-8 at decoded byte %d", ErrMalformedPath, i)
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: control character %U", ErrMalformedPath, r)
		}
		i += size
	}
	return nil
}

// checkSegments rejects segments that servers may trim into another name,
// such as "admin " or "admin." for "admin". It also reports whether p is
// already clean (no empty or dot segment, no trailing slash), in which case
// path.Clean would return it unchanged and can be skipped. p starts with
// '/'.
func checkSegments(p string) (clean bool, err error) {
	clean = true
	for rest := p[1:]; ; {
		seg, next, more := strings.Cut(rest, "/")
		switch seg {
		case "":
			// "//" or a trailing slash; "/" alone is clean.
			clean = clean && !more && len(p) == 1
		case ".", "..":
			clean = false
		default:
			if err := checkSegment(seg); err != nil {
				return false, err
			}
		}
		if !more {
			return clean, nil
		}
		rest = next
	}
}

func checkSegment(seg string) error {
	first, last := rune(seg[0]), rune(seg[len(seg)-1])
	if first >= utf8.RuneSelf {
		first, _ = utf8.DecodeRuneInString(seg)
	}
	if last >= utf8.RuneSelf {
		last, _ = utf8.DecodeLastRuneInString(seg)
	}
	switch {
	case unicode.IsSpace(first) || unicode.IsSpace(last):
		return fmt.Errorf("%w: segment %q has leading or trailing white space", ErrMalformedPath, seg)
	case last == '.':
		return fmt.Errorf("%w: segment %q ends in '.'", ErrMalformedPath, seg)
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
