package session

import (
	"errors"
	"fmt"
	"golang.org/x/net/http/httpguts"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// DefaultTimeout bounds one session-store call when the rule sets no
// timeout (Oathkeeper's session calls had none at all): short enough that
// a store that does not answer is reported as session_store_timeout
// within the default check budget.
const DefaultTimeout = remotecall.DefaultCallTimeout

// DefaultCacheTTL is how long a session answer is reused when the cache is
// enabled without a ttl: a logout at the session store takes effect within
// this time.
const DefaultCacheTTL = 30 * time.Second

// BreakerConfig is the Portcullis circuit_breaker block of cookie_session
// and bearer_token.
type BreakerConfig = remotecall.BreakerConfig

// CacheConfig is the Portcullis cache block of cookie_session and
// bearer_token (Oathkeeper has none; see its PR #1244).
type CacheConfig struct {
	// Enabled turns caching of successful session answers on.
	Enabled bool `json:"enabled"`
	// TTL is how long an answer is reused (default 30s).
	TTL pipeline.Duration `json:"ttl"`
	// MaxEntries is accepted for symmetry with the other caches; the
	// bound that applies is the shared cache's, set by the service.
	MaxEntries int `json:"max_entries"`
}

// Options is the handler-independent part of a cookie_session or
// bearer_token config, with Oathkeeper's key names in messages.
type Options struct {
	// Handler names the handler ("cookie_session"); it separates the
	// handlers' cache entries.
	Handler string
	// CheckSessionURL is the session endpoint (check_session_url).
	CheckSessionURL string
	// ReplacePath sends the request's path instead of the endpoint's
	// (preserve_path: false). The zero value keeps the configured path, so
	// the client cannot choose which endpoint of the session store's host
	// is asked (issue #8).
	ReplacePath bool
	// ReplaceQuery sends the request's query instead of the endpoint's
	// (preserve_query: false).
	ReplaceQuery bool
	// PreserveHost sends X-Forwarded-Host with the request host.
	PreserveHost bool
	// ForceMethod replaces the request method ("" keeps it).
	ForceMethod string
	// ForwardHTTPHeaders are request headers copied to the call.
	ForwardHTTPHeaders []string
	// AdditionalHeaders are set on the call.
	AdditionalHeaders map[string]string
	// SubjectFrom and ExtraFrom are GJSON paths into the answer.
	SubjectFrom, ExtraFrom string
	// Timeout bounds the call (0: DefaultTimeout); the check's deadline
	// bounds it too.
	Timeout time.Duration
	// Cache is the rule's cache block.
	Cache CacheConfig
	// CircuitBreaker is the rule's circuit_breaker block: the thresholds
	// of the circuit of CheckSessionURL (the configured URL, whatever path
	// or query a call sends).
	CircuitBreaker BreakerConfig
	// Always names the headers forwarded whatever forward_http_headers
	// says: Cookie for cookie_session, Authorization for bearer_token.
	Always []string
}

// Validate checks the options; every message names the config key.
func (o *Options) Validate() error {
	var errs []error
	if _, err := remotecall.ParseURL(o.CheckSessionURL); err != nil {
		errs = append(errs, fmt.Errorf("check_session_url: %w", err))
	}
	if o.ForceMethod != "" && !httpguts.ValidHeaderFieldName(o.ForceMethod) {
		errs = append(errs, fmt.Errorf("force_method: invalid method %q", o.ForceMethod))
	}
	for i, h := range o.ForwardHTTPHeaders {
		if !httpguts.ValidHeaderFieldName(h) {
			errs = append(errs, fmt.Errorf("forward_http_headers[%d]: invalid header name %q", i, h))
		}
	}
	for k := range o.AdditionalHeaders {
		if !httpguts.ValidHeaderFieldName(k) {
			errs = append(errs, fmt.Errorf("additional_headers: invalid header name %q", k))
		} else if v := o.AdditionalHeaders[k]; strings.ContainsAny(v, "\r\n\x00") {
			errs = append(errs, fmt.Errorf("additional_headers.%s: value contains a control character", k))
		}
	}
	if o.SubjectFrom == "" {
		errs = append(errs, errors.New("subject_from: must not be empty"))
	}
	if o.ExtraFrom == "" {
		errs = append(errs, errors.New("extra_from: must not be empty"))
	}
	if o.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must not be negative"))
	}
	if o.Cache.TTL < 0 {
		errs = append(errs, errors.New("cache.ttl: must not be negative"))
	}
	if o.Cache.MaxEntries < 0 {
		errs = append(errs, errors.New("cache.max_entries: must not be negative"))
	}
	if err := o.CircuitBreaker.Validate("circuit_breaker"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// forwardList returns the canonical names to forward: the configured ones
// plus Always, de-duplicated, without the ones net/http writes itself
// (remotecall.ReservedHeader).
func (o *Options) forwardList() []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range append(append([]string(nil), o.ForwardHTTPHeaders...), o.Always...) {
		c := http.CanonicalHeaderKey(h)
		if seen[c] || remotecall.ReservedHeader(c) {
			continue
		}
		seen[c] = true
		out = append(out, c)
	}
	return out
}
