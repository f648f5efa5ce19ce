package mtls

import (
	"errors"
	"strings"
)

// maxIDLength is the SPIFFE ID length limit (SPIFFE-ID §2.3 recommends
// 2048 bytes for URIs).
const maxIDLength = 2048

// spiffeID is a parsed SPIFFE ID: spiffe://<trust domain><path>.
type spiffeID struct {
	trustDomain string
	path        string // "" or "/seg/seg"
}

// parseID parses s per the SPIFFE ID spec: lower-case scheme and trust
// domain of [a-z0-9.-_], path segments of [A-Za-z0-9.-_] that are neither
// empty nor "." or "..", and no port, user info, query or fragment.
// Envoy sends the URI SAN unmodified, so anything looser is refused rather
// than normalised.
func parseID(s string) (spiffeID, error) {
	return parse(s, false)
}

// parsePattern parses an allowed_ids entry: a SPIFFE ID in which a path
// segment may be "*", matching exactly one segment.
func parsePattern(s string) ([]string, string, error) {
	id, err := parse(s, true)
	if err != nil {
		return nil, "", err
	}
	if id.path == "" {
		return nil, id.trustDomain, nil
	}
	return strings.Split(id.path[1:], "/"), id.trustDomain, nil
}

func parse(s string, pattern bool) (spiffeID, error) {
	const scheme = "spiffe://"
	if len(s) > maxIDLength {
		return spiffeID{}, errors.New("longer than 2048 bytes")
	}
	if !strings.HasPrefix(s, scheme) {
		return spiffeID{}, errors.New(`not a SPIFFE ID (want "spiffe://<trust domain>/<path>")`)
	}
	rest := s[len(scheme):]
	td, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		td, path = rest[:i], rest[i:]
	}
	if err := checkTrustDomain(td); err != nil {
		return spiffeID{}, err
	}
	if path != "" {
		for _, seg := range strings.Split(path[1:], "/") {
			switch {
			case seg == "":
				return spiffeID{}, errors.New("empty path segment")
			case seg == "." || seg == "..":
				return spiffeID{}, errors.New("dot path segment")
			case pattern && seg == "*":
				continue
			}
			for i := 0; i < len(seg); i++ {
				if c := seg[i]; !(isTDChar(c) || c >= 'A' && c <= 'Z') {
					return spiffeID{}, errors.New("invalid character in path")
				}
			}
		}
	}
	return spiffeID{trustDomain: td, path: path}, nil
}

// checkTrustDomain validates a trust domain name.
func checkTrustDomain(td string) error {
	if td == "" {
		return errors.New("empty trust domain")
	}
	for i := 0; i < len(td); i++ {
		if !isTDChar(td[i]) {
			return errors.New("invalid character in trust domain (want lower-case letters, digits, '.', '-', '_')")
		}
	}
	return nil
}

func isTDChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
}

// idPattern is one compiled allowed_ids entry.
type idPattern struct {
	trustDomain string
	segments    []string // "*" matches any one segment
}

// matches reports whether id is matched: same trust domain, same number
// of segments, each equal or "*". It does not allocate.
func (p idPattern) matches(id spiffeID) bool {
	if id.trustDomain != p.trustDomain {
		return false
	}
	rest := id.path // "" or "/a/b"
	for _, want := range p.segments {
		if rest == "" {
			return false
		}
		rest = rest[1:]
		seg := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			seg, rest = rest[:j], rest[j:]
		} else {
			rest = ""
		}
		if want != "*" && want != seg {
			return false
		}
	}
	return rest == ""
}
