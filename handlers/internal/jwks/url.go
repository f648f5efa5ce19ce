package jwks

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// ParseURL checks a jwks_urls entry and returns it parsed. Accepted:
// http://, https:// (with a host) and file:// URLs. file://./rel.json and
// file://../rel.json are relative to the working directory, as in
// Oathkeeper; file:///abs.json is absolute. Object-storage schemes, which
// Oathkeeper reads through its blob SDKs, are refused with a hint.
func ParseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("empty url")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL; the input is config, but keep
		// the message short and query-free anyway.
		return nil, fmt.Errorf("invalid url: %w", unwrapURLError(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("url %q has no host", Redact(u))
		}
		if u.User != nil {
			return nil, fmt.Errorf("url %q must not carry credentials", Redact(u))
		}
	case "file":
		if FilePath(u) == "" {
			return nil, fmt.Errorf("url %q has no path", Redact(u))
		}
	case "s3", "gs", "azblob":
		return nil, fmt.Errorf("unsupported scheme %q: object storage is not supported, serve the JWKS over https or mount it as a file", u.Scheme)
	case "":
		return nil, fmt.Errorf("url %q has no scheme (want http, https or file)", Redact(u))
	default:
		return nil, fmt.Errorf("unsupported scheme %q (want http, https or file)", u.Scheme)
	}
	return u, nil
}

// FilePath returns the file system path of a file:// URL. A host of "." or
// ".." makes the path relative (file://./keys.json → ./keys.json); the host
// "localhost" is ignored; any other host is kept as the first path element
// of a relative path, which is what Oathkeeper's loader did.
func FilePath(u *url.URL) string {
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	switch {
	case u.Host == "" || u.Host == "localhost":
	default:
		p = u.Host + p
	}
	if p == "" {
		return ""
	}
	return filepath.FromSlash(p)
}

// Redact returns the URL without user info, query or fragment, for logs and
// errors (a query may carry an API key).
func Redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	c.RawFragment = ""
	return c.String()
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
