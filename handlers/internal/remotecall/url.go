package remotecall

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ParseURL checks a configured endpoint URL: absolute http or https with a
// host, no fragment, and never a template. A URL assembled from request
// data is an SSRF vector (SECURITY_CASES D-01), so "{{" is rejected rather
// than sent literally.
//
// The URL may carry user info, so no message quotes it.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is required")
	}
	if strings.Contains(raw, "{{") {
		return nil, errors.New("templates are not allowed in the URL; send request data in headers or the body")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("invalid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
	case u.Hostname() == "":
		return nil, errors.New("missing host")
	case strings.Contains(raw, "#"):
		return nil, errors.New("must not have a fragment")
	}
	return u, nil
}

// ValidToken reports whether s is an RFC 9110 token: a method or a header
// field name.
func ValidToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether s holds no control character other
// than horizontal tab (RFC 9110 §5.5), which keeps CR, LF and NUL from
// session data out of outbound headers.
func ValidHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
