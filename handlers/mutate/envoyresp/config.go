package envoyresp

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/headerpolicy"
)

// DefaultMaxValueBytes caps each rendered value unless max_value_bytes says
// otherwise: far below Envoy's 60 KiB default for all request headers.
const DefaultMaxValueBytes = 8 << 10

// maxMaxValueBytes bounds the cap itself; larger values are a typo.
const maxMaxValueBytes = 1 << 20

// credentialHeaders are the names strip_credentials adds to the removals.
var credentialHeaders = []string{"authorization", "cookie", "proxy-authorization"}

// reservedMetadata are the dynamic metadata keys the front door writes
// after the mutators' entries, so a mutator's value would be lost.
var reservedMetadata = map[string]bool{"rule_id": true, "subject": true, "decision": true, "reason": true}

// Config is the envoy mutator's config.
type Config struct {
	// Remove names request headers to strip before the request goes
	// upstream, e.g. authorization after a token exchange.
	Remove []string `json:"remove"`
	// StripCredentials adds authorization, cookie and proxy-authorization to
	// Remove. It only adds removals; headers a mutator sets are untouched.
	StripCredentials bool `json:"strip_credentials"`
	// ResponseHeaders maps a header name to the template of its value, added
	// to the client response on allow.
	ResponseHeaders map[string]string `json:"response_headers"`
	// QuerySet maps a query parameter to the template of its value, set
	// (overwritten) on the upstream request. Values are stored in
	// Session.SetQuery percent-encoded, as Envoy expects them.
	QuerySet map[string]string `json:"query_set"`
	// QueryRemove names query parameters to remove upstream (exact,
	// case-sensitive names, as Envoy compares them).
	QueryRemove []string `json:"query_remove"`
	// Metadata maps a dynamic metadata key to the template of a string.
	Metadata map[string]string `json:"metadata"`
	// MetadataClaims names session Extra entries copied into dynamic
	// metadata unchanged (strings, numbers, lists, objects).
	MetadataClaims []string `json:"metadata_claims"`
	// MaxValueBytes caps every rendered value and copied claim (default
	// DefaultMaxValueBytes).
	MaxValueBytes int `json:"max_value_bytes"`
	// AllowEnvoyHeaders lists the x-envoy-* headers response_headers may
	// set (exact names, no wildcards). Default: none, because a downstream
	// Envoy acts on some of them (x-envoy-degraded, ...).
	AllowEnvoyHeaders []string `json:"allow_envoy_headers"`
}

// Validate applies defaults, lower-cases header names and reports every
// bad key.
func (c *Config) Validate() error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case c.MaxValueBytes == 0:
		c.MaxValueBytes = DefaultMaxValueBytes
	case c.MaxValueBytes < 0 || c.MaxValueBytes > maxMaxValueBytes:
		fail("max_value_bytes: %d is outside 1..%d", c.MaxValueBytes, maxMaxValueBytes)
	}
	policy, err := headerpolicy.New(c.AllowEnvoyHeaders)
	if err != nil {
		errs = append(errs, err)
	}
	for i, n := range c.Remove {
		if err := headerpolicy.CheckRemove(n); err != nil {
			fail("remove[%d]: %w", i, err)
		}
		c.Remove[i] = strings.ToLower(n)
	}
	if c.StripCredentials {
		c.Remove = append(c.Remove, credentialHeaders...)
	}
	c.Remove = dedupe(c.Remove)
	lowered := make(map[string]string, len(c.ResponseHeaders))
	for _, n := range sortedKeys(c.ResponseHeaders) {
		if err := checkResponseHeader(policy, n); err != nil {
			fail("response_headers: %w", err)
		}
		l := strings.ToLower(n)
		if _, dup := lowered[l]; dup {
			fail("response_headers: %q is set twice (names are case-insensitive)", n)
		}
		lowered[l] = c.ResponseHeaders[n]
	}
	c.ResponseHeaders = lowered
	for _, n := range sortedKeys(c.QuerySet) {
		if err := checkQueryName(n); err != nil {
			fail("query_set: %w", err)
		}
	}
	for i, n := range c.QueryRemove {
		if err := checkQueryName(n); err != nil {
			fail("query_remove[%d]: %w", i, err)
		}
	}
	for _, k := range sortedKeys(c.Metadata) {
		if err := checkMetadataKey(k); err != nil {
			fail("metadata: %w", err)
		}
	}
	for i, k := range c.MetadataClaims {
		if err := checkMetadataKey(k); err != nil {
			fail("metadata_claims[%d]: %w", i, err)
		}
		if _, dup := c.Metadata[k]; dup {
			fail("metadata_claims[%d]: %q is also a metadata key", i, k)
		}
	}
	return errors.Join(errs...)
}

// checkResponseHeader applies the header policy to a header for the client
// response. Host is a request header: on a response it has no meaning.
func checkResponseHeader(p headerpolicy.Policy, n string) error {
	err := p.Check(n)
	if errors.Is(err, headerpolicy.ErrHost) {
		return fmt.Errorf("header %q cannot be set: it is a request header", n)
	}
	return err
}

// checkQueryName accepts RFC 3986 unreserved characters only, so a name
// reads the same encoded and decoded and Envoy's exact, case-sensitive
// comparison cannot be fooled by an encoding variant.
func checkQueryName(n string) error {
	if n == "" {
		return errors.New("empty parameter name")
	}
	for i := 0; i < len(n); i++ {
		switch c := n[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return fmt.Errorf("parameter name %q: only letters, digits and -._~ are allowed", n)
		}
	}
	return nil
}

func checkMetadataKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty key")
	case reservedMetadata[k]:
		return fmt.Errorf("key %q is reserved", k)
	}
	return nil
}

func dedupe(names []string) []string {
	out := names[:0]
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
