package introspection

import (
	"errors"
	"fmt"
	"golang.org/x/net/http/httpguts"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// DefaultCacheTTL is how long an introspection answer is reused when the
// cache is enabled without a ttl. Oathkeeper then kept answers until they
// were evicted; Portcullis bounds the time a revoked token stays usable.
// An entry never outlives the token's exp either way.
const DefaultCacheTTL = 30 * time.Second

// AccessToken is the token type a rule accepts when it does not set
// allowed_token_types.
const AccessToken = "access_token"

// Config is the oauth2_introspection config: Oathkeeper's keys plus the
// Portcullis additions timeout and allowed_token_types.
type Config struct {
	// IntrospectionURL is the RFC 7662 endpoint (required).
	IntrospectionURL string `json:"introspection_url"`
	// ScopeStrategy is none (default), exact, hierarchic or wildcard. With
	// none the required scopes are sent to the endpoint as scope and it
	// decides; otherwise they are checked here against the answer's scope.
	ScopeStrategy string `json:"scope_strategy"`
	// RequiredScope lists scopes the token must grant (all of them).
	RequiredScope []string `json:"required_scope"`
	// TargetAudience lists audiences the token must have (all of them).
	TargetAudience []string `json:"target_audience"`
	// TrustedIssuers lists accepted issuers (any of them).
	TrustedIssuers []string `json:"trusted_issuers"`
	// Prefix makes the handler responsible only for tokens starting with it.
	Prefix string `json:"prefix"`
	// PreserveHost sends X-Forwarded-Host with the request host.
	PreserveHost bool `json:"preserve_host"`
	// IntrospectionRequestHeaders are set on the introspection call.
	// Content-Type is always form-urlencoded, and with pre_authorization
	// the Authorization header is the obtained bearer token.
	IntrospectionRequestHeaders map[string]string `json:"introspection_request_headers"`
	// TokenFrom says where the token is (default: Authorization: Bearer).
	TokenFrom *token.From `json:"token_from"`
	// PreAuthorization obtains a client-credentials token for the call.
	PreAuthorization *PreAuthorization `json:"pre_authorization"`
	// Retry bounds the call: give_up_after is the deadline of all attempts
	// (default 150ms, or timeout when longer), max_delay the longest pause
	// between them (100ms). The check's deadline bounds the call too.
	Retry remotecall.RetryConfig `json:"retry"`
	// CircuitBreaker tunes the circuit breaker of introspection_url (a
	// Portcullis addition; on by default: 5 consecutive failed attempts
	// open it for 2s).
	CircuitBreaker remotecall.BreakerConfig `json:"circuit_breaker"`
	// AllowedTokenTypes lists the token types that authenticate a request
	// (Portcullis addition; default [access_token]). The answer's
	// token_use must be one of them when present, and so must the type
	// its token_type names (refresh_token for "refresh_token", "refresh"
	// or RFC 8693's refresh-token URI, id_token likewise, access_token for
	// any other value such as "Bearer"); an answer naming neither is an
	// access token. A refresh token authenticates only where a rule lists
	// refresh_token here.
	AllowedTokenTypes []string `json:"allowed_token_types"`
	// Cache reuses answers that passed every check; the checks of the
	// rule at hand still run on each cached answer.
	Cache CacheConfig `json:"cache"`
	// Timeout bounds one attempt (Portcullis addition; default: the whole
	// retry.give_up_after budget).
	Timeout pipeline.Duration `json:"timeout"`
}

// PreAuthorization is the client-credentials grant whose token
// authenticates the introspection call.
type PreAuthorization struct {
	// Enabled turns pre-authorization on.
	Enabled bool `json:"enabled"`
	// ClientID identifies the client (required when enabled).
	ClientID string `json:"client_id"`
	// ClientSecret authenticates it (required when enabled); it never
	// appears in an error, log line or cache key.
	ClientSecret string `json:"client_secret"`
	// TokenURL is the token endpoint (required when enabled).
	TokenURL string `json:"token_url"`
	// Audience is sent as audience in the grant, when set.
	Audience string `json:"audience"`
	// Scope is requested in the grant.
	Scope []string `json:"scope"`
}

// CacheConfig is the cache block.
type CacheConfig struct {
	// Enabled turns caching on.
	Enabled bool `json:"enabled"`
	// TTL caps how long an answer is reused (default 30s); the token's exp
	// caps it too.
	TTL pipeline.Duration `json:"ttl"`
	// MaxCost is Oathkeeper's ristretto bound (one unit per token). It is
	// accepted and checked; the bound that applies is the shared cache's,
	// set by the service, as Oathkeeper's cache was process-wide too.
	MaxCost int64 `json:"max_cost"`
}

// endpoint is the introspection call to u, the parsed introspection_url,
// through client, from a validated config.
func (c *Config) endpoint(client *outbound.Client, u *url.URL) remotecall.Endpoint {
	return remotecall.Endpoint{Client: client, URL: u, Retry: c.Retry.Policy(c.Timeout.Std()),
		Breaker: c.CircuitBreaker.Breaker(client, u)}
}

// Validate applies defaults and checks every key.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := remotecall.ParseURL(c.IntrospectionURL); err != nil {
		add(fmt.Errorf("introspection_url: %w", err))
	}
	if _, err := scope.Parse(c.ScopeStrategy); err != nil {
		add(fmt.Errorf("scope_strategy: %w", err))
	}
	for _, l := range []struct {
		key  string
		list []string
	}{{"required_scope", c.RequiredScope}, {"target_audience", c.TargetAudience}, {"trusted_issuers", c.TrustedIssuers}} {
		for i, v := range l.list {
			if strings.TrimSpace(v) == "" {
				add(fmt.Errorf("%s[%d]: must not be empty", l.key, i))
			}
		}
	}
	seen := make(map[string]bool, len(c.AllowedTokenTypes))
	for i, v := range c.AllowedTokenTypes {
		switch {
		case strings.TrimSpace(v) == "":
			add(fmt.Errorf("allowed_token_types[%d]: must not be empty", i))
		case seen[v]:
			add(fmt.Errorf("allowed_token_types[%d]: duplicate %q", i, v))
		}
		seen[v] = true
	}
	if len(c.AllowedTokenTypes) == 0 {
		c.AllowedTokenTypes = []string{AccessToken}
	}
	for k, v := range c.IntrospectionRequestHeaders {
		if !httpguts.ValidHeaderFieldName(k) {
			add(fmt.Errorf("introspection_request_headers: invalid header name %q", k))
		} else if strings.ContainsAny(v, "\r\n\x00") {
			add(fmt.Errorf("introspection_request_headers.%s: value contains a control character", k))
		}
	}
	if err := c.TokenFrom.Validate(); err != nil {
		add(fmt.Errorf("token_from: %w", err))
	}
	if p := c.PreAuthorization; p != nil && p.Enabled {
		if p.ClientID == "" {
			add(errors.New("pre_authorization.client_id: is required when enabled"))
		}
		if p.ClientSecret == "" {
			add(errors.New("pre_authorization.client_secret: is required when enabled"))
		}
		if _, err := remotecall.ParseURL(p.TokenURL); err != nil {
			add(fmt.Errorf("pre_authorization.token_url: %w", err))
		}
	}
	if c.Retry.GiveUpAfter == 0 && c.Timeout >= 0 {
		// A call, retries included, fits the default check budget, so an
		// endpoint that does not answer is reported as
		// introspection_timeout rather than as a spent budget.
		c.Retry.GiveUpAfter = pipeline.Duration(max(remotecall.DefaultCallTimeout, c.Timeout.Std()))
	}
	add(c.Retry.Validate("retry", c.Timeout.Std()))
	add(c.CircuitBreaker.Validate("circuit_breaker"))
	if c.Cache.TTL < 0 {
		add(errors.New("cache.ttl: must not be negative"))
	}
	if c.Cache.MaxCost < 0 {
		add(errors.New("cache.max_cost: must not be negative"))
	}
	if c.Cache.TTL == 0 {
		c.Cache.TTL = pipeline.Duration(DefaultCacheTTL)
	}
	return errors.Join(errs...)
}
