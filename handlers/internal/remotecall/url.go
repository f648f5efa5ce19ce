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
