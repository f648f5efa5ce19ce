package jwt

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Limits and defaults of the config. DefaultJWKSMaxWait fits the default
// check budget (serve.check_timeout, 180ms) with room to answer, as every
// remote call's default does, so a request that waits for keys that do
// not come is denied with jwks_unavailable rather than a spent budget.
const (
	DefaultJWKSMaxWait = 150 * time.Millisecond
	DefaultJWKSTTL     = 30 * time.Second
	MaxJWKSMaxWait     = 30 * time.Second
	MinJWKSTTL         = time.Second
	MaxClockSkew       = 5 * time.Minute
)

// Config is the jwt authenticator's config: Oathkeeper's keys (schema
// configAuthenticatorsJwt) plus three Portcullis extensions at the end.
type Config struct {
	// JWKSURLs are http(s):// or file:// JWKS locations, searched in order.
	JWKSURLs []string `json:"jwks_urls"`
	// JWKSMaxWait bounds how long a request waits for keys it does not
	// have yet (default 150ms); the check's deadline bounds the wait too.
	// Unlike Oathkeeper it applies per rule.
	JWKSMaxWait pipeline.Duration `json:"jwks_max_wait"`
	// JWKSTTL is the refresh interval of the sets (default 30s). A URL
	// shared by rules refreshes at the shortest interval asked for.
	JWKSTTL pipeline.Duration `json:"jwks_ttl"`
	// AllowedAlgorithms lists the accepted alg values (default [RS256]).
	AllowedAlgorithms []string `json:"allowed_algorithms"`
	// TrustedIssuers, if set, must contain iss (OR).
	TrustedIssuers []string `json:"trusted_issuers"`
	// TargetAudience entries must all be in aud (AND).
	TargetAudience []string `json:"target_audience"`
	// RequiredScope entries must all be granted under ScopeStrategy.
	RequiredScope []string `json:"required_scope"`
	// ScopeStrategy is none (default), exact, hierarchic or wildcard.
	ScopeStrategy string `json:"scope_strategy"`
	// TokenFrom says where the token is (default Authorization: Bearer).
	TokenFrom *token.From `json:"token_from"`

	// AllowedClockSkew is the leeway for exp, nbf and iat (default 0,
	// at most 5m). Portcullis extension.
	AllowedClockSkew pipeline.Duration `json:"allowed_clock_skew"`
	// RequiredClaims must be present in every token (default ["exp"]; an
	// explicit [] requires nothing, as Oathkeeper). Portcullis extension.
	RequiredClaims []string `json:"required_claims"`
	// MaxTokenLifetime, if set, rejects tokens whose exp lies further than
	// this after iat or after now. Portcullis extension.
	MaxTokenLifetime pipeline.Duration `json:"max_token_lifetime"`
}

// Validate applies the defaults and checks every key, reporting all
// problems at once, each prefixed with its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if len(c.JWKSURLs) == 0 {
		bad("jwks_urls", "required")
	}
	for i, u := range c.JWKSURLs {
		if _, err := jwks.ParseURL(u); err != nil {
			bad(fmt.Sprintf("jwks_urls[%d]", i), "%v", err)
		}
	}
	switch d := c.JWKSMaxWait.Std(); {
	case d == 0:
		c.JWKSMaxWait = pipeline.Duration(DefaultJWKSMaxWait)
	case d < 0 || d > MaxJWKSMaxWait:
		bad("jwks_max_wait", "must be between 0 and %v, got %v", MaxJWKSMaxWait, d)
	}
	switch d := c.JWKSTTL.Std(); {
	case d == 0:
		c.JWKSTTL = pipeline.Duration(DefaultJWKSTTL)
	case d < MinJWKSTTL:
		bad("jwks_ttl", "must be at least %v, got %v", MinJWKSTTL, d)
	}
	if len(c.AllowedAlgorithms) == 0 {
		c.AllowedAlgorithms = []string{"RS256"}
	}
	for i, a := range c.AllowedAlgorithms {
		switch {
		case strings.EqualFold(a, "none"):
			bad(fmt.Sprintf("allowed_algorithms[%d]", i), `"none" is never allowed`)
		case !jwks.SignatureAlgorithm(a):
			bad(fmt.Sprintf("allowed_algorithms[%d]", i), "unsupported algorithm %q", a)
		}
	}
	for i, s := range c.RequiredScope {
		if s == "" {
			bad(fmt.Sprintf("required_scope[%d]", i), "empty scope")
		}
	}
	st, err := scope.Parse(c.ScopeStrategy)
	if err != nil {
		bad("scope_strategy", "%v", err)
	} else {
		c.ScopeStrategy = string(st)
		if st == scope.None && len(c.RequiredScope) > 0 {
			bad("required_scope", `set but scope_strategy is "none": choose exact, hierarchic or wildcard`)
		}
	}
	if err := c.TokenFrom.Validate(); err != nil {
		bad("token_from", "%v", err)
	}
	if d := c.AllowedClockSkew.Std(); d < 0 || d > MaxClockSkew {
		bad("allowed_clock_skew", "must be between 0 and %v, got %v", MaxClockSkew, d)
	}
	if c.RequiredClaims == nil {
		c.RequiredClaims = []string{"exp"}
	}
	for i, name := range c.RequiredClaims {
		if name == "" {
			bad(fmt.Sprintf("required_claims[%d]", i), "empty claim name")
		}
	}
	if d := c.MaxTokenLifetime.Std(); d < 0 {
		bad("max_token_lifetime", "must not be negative, got %v", d)
	}
	return errors.Join(errs...)
}
