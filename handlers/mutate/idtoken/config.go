package idtoken

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/headerpolicy"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Defaults and limits of Config.
const (
	// DefaultTTL is Oathkeeper's default token lifetime.
	DefaultTTL = 15 * time.Minute
	// MinTTL is the shortest lifetime: exp, iat and nbf have one-second
	// resolution, so a shorter ttl could mint a token with exp == iat.
	MinTTL = time.Second
	// MaxTTL bounds the lifetime. A minted token cannot be revoked, and a
	// receiver that trusts the gateway trusts it until exp (RFC 8725 §3.12,
	// SECURITY_CASES A-16), so days-long tokens are refused at load.
	MaxTTL = 24 * time.Hour
	// DefaultHeader is where the token goes unless Config.Header says
	// otherwise; only this header gets the "Bearer " prefix.
	DefaultHeader = "Authorization"
)

// Config is the id_token mutator's config in Oathkeeper's shape
// (mutators.id_token.config), plus the Portcullis keys header and cache.
type Config struct {
	// IssuerURL is the iss claim of every minted token (required).
	IssuerURL string `json:"issuer_url"`
	// JWKSURL locates the signing keys: file:// (absolute, or relative as
	// file://./keys.json), https://, or http:// to a loopback host. The set
	// must hold at least one asymmetric private key (required).
	JWKSURL string `json:"jwks_url"`
	// TTL is the token lifetime (default 15m, between 1s and 24h).
	TTL pipeline.Duration `json:"ttl"`
	// Claims is a template over the session that renders to a JSON object;
	// the reserved claims (iss, sub, exp, iat, nbf, jti) are set after it
	// and cannot be overridden. Empty means no custom claims.
	Claims string `json:"claims"`
	// Header is the upstream header that carries the token (default
	// Authorization, as "Bearer <jwt>"; any other header gets the bare jwt).
	Header string `json:"header"`
	// Cache controls the reuse of minted tokens.
	Cache CacheConfig `json:"cache"`
}

// CacheConfig is the token cache switch.
type CacheConfig struct {
	// Enabled reuses a token minted for identical inputs until 90% of its
	// ttl has passed (default true).
	Enabled *bool `json:"enabled"`
}

// enabled reports the effective switch.
func (c CacheConfig) enabled() bool { return c.Enabled == nil || *c.Enabled }

// Validate applies the defaults and rejects bad values, naming the key.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.IssuerURL) == "" {
		errs = append(errs, errors.New("issuer_url: is required"))
	} else if strings.ContainsAny(c.IssuerURL, "\r\n\x00") {
		errs = append(errs, errors.New("issuer_url: contains a control character"))
	}
	if _, err := parseJWKSURL(c.JWKSURL); err != nil {
		errs = append(errs, fmt.Errorf("jwks_url: %w", err))
	}
	switch ttl := c.TTL.Std(); {
	case ttl == 0:
		c.TTL = pipeline.Duration(DefaultTTL)
	case ttl < MinTTL:
		errs = append(errs, fmt.Errorf("ttl: must be at least %s (got %s)", MinTTL, ttl))
	case ttl > MaxTTL:
		errs = append(errs, fmt.Errorf("ttl: must be at most %s (got %s)", MaxTTL, ttl))
	}
	if c.Header == "" {
		c.Header = DefaultHeader
	} else if err := validHeaderName(c.Header); err != nil {
		errs = append(errs, fmt.Errorf("header: %w", err))
	}
	return errors.Join(errs...)
}

// jwksLocation is a parsed jwks_url: either a file path or an http(s) URL.
type jwksLocation struct {
	raw  string // as configured: the key of the shared source
	path string // file path, for file://
	url  string // request URL, for http(s)://
}

// parseJWKSURL accepts the forms Oathkeeper documents. Plain http is
// refused except to loopback: the set holds private keys, and anyone on the
// path could read or replace them (SECURITY_CASES D-15).
func parseJWKSURL(raw string) (jwksLocation, error) {
	if raw == "" {
		return jwksLocation{}, errors.New("is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return jwksLocation{}, errors.New("is not a valid URL")
	}
	loc := jwksLocation{raw: raw}
	switch u.Scheme {
	case "file":
		switch {
		case u.Opaque != "": // file:keys.json
			loc.path = u.Opaque
		case u.Host == "" || u.Host == "localhost":
			loc.path = u.Path
		case u.Host == "." || u.Host == "..": // file://./keys.json
			loc.path = u.Host + u.Path
		default:
			return jwksLocation{}, fmt.Errorf("file URL with remote host %q is not supported", u.Host)
		}
		if loc.path == "" || strings.HasSuffix(loc.path, "/") {
			return jwksLocation{}, errors.New("file URL names no file")
		}
	case "https", "http":
		if u.Host == "" {
			return jwksLocation{}, errors.New("has no host")
		}
		if u.User != nil {
			return jwksLocation{}, errors.New("must not carry credentials in the URL")
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return jwksLocation{}, fmt.Errorf("plain http is only allowed to a loopback host (got %q); use https", u.Hostname())
		}
		loc.url = u.String()
	case "":
		return jwksLocation{}, errors.New("has no scheme (want file, https or http to loopback)")
	default:
		return jwksLocation{}, fmt.Errorf("unsupported scheme %q (want file, https or http to loopback)", u.Scheme)
	}
	return loc, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validHeaderName accepts RFC 9110 tokens other than Host: a proxy does
// not let an authorization service rewrite Host, and a pseudo-header or a
// name with separators would be dropped or rejected later, silently.
func validHeaderName(name string) error {
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return fmt.Errorf("invalid character %q in header name", c)
		}
	}
	if strings.EqualFold(name, "host") {
		return errors.New("the host header cannot be set")
	}
	// Hop-by-hop, framing and x-envoy-* headers (issue #8 item 6).
	return headerpolicy.Policy{}.Check(name)
}
