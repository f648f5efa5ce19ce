package clientcredentials

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is the oauth2_client_credentials config: Oathkeeper's keys plus
// the Portcullis addition timeout.
type Config struct {
	// TokenURL is the token endpoint the credentials are checked at
	// (required).
	TokenURL string `json:"token_url"`
	// RequiredScope is requested in the grant; the endpoint refuses a
	// client that may not have it.
	RequiredScope []string `json:"required_scope"`
	// Retry bounds the grant: give_up_after is the deadline of all
	// attempts (default 150ms, or timeout when longer), max_delay the
	// longest pause between them. The check's deadline bounds it too.
	Retry remotecall.RetryConfig `json:"retry"`
	// Cache reuses issued tokens, so a known client is not re-checked
	// until its token (or cache.ttl) expires.
	Cache CacheConfig `json:"cache"`
	// Timeout bounds one attempt (default: the whole give_up_after).
	Timeout pipeline.Duration `json:"timeout"`
}

// CacheConfig is the cache block.
type CacheConfig struct {
	// Enabled turns caching on.
	Enabled bool `json:"enabled"`
	// TTL caps how long a token is reused; its expiry caps it too. A token
	// without expires_in is cached only when TTL is set.
	TTL pipeline.Duration `json:"ttl"`
	// MaxTokens is accepted and checked; the bound that applies is the
	// shared token cache's, set by the service.
	MaxTokens int `json:"max_tokens"`
}

// Validate applies defaults and checks every key.
func (c *Config) Validate() error {
	var errs []error
	if _, err := remotecall.ParseURL(c.TokenURL); err != nil {
		errs = append(errs, fmt.Errorf("token_url: %w", err))
	}
	for i, s := range c.RequiredScope {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\r\n") {
			errs = append(errs, fmt.Errorf("required_scope[%d]: invalid scope %q", i, s))
		}
	}
	if c.Retry.GiveUpAfter == 0 && c.Timeout >= 0 {
		// The grant, retries included, fits the default check budget.
		c.Retry.GiveUpAfter = pipeline.Duration(max(remotecall.DefaultCallTimeout, c.Timeout.Std()))
	}
	if err := c.Retry.Validate("retry", c.Timeout.Std()); err != nil {
		errs = append(errs, err)
	}
	if c.Cache.TTL < 0 {
		errs = append(errs, errors.New("cache.ttl: must not be negative"))
	}
	if c.Cache.MaxTokens < 0 {
		errs = append(errs, errors.New("cache.max_tokens: must not be negative"))
	}
	return errors.Join(errs...)
}

// Authenticator checks HTTP Basic client credentials by performing a
// client-credentials grant with them. It is safe for concurrent use.
type Authenticator struct {
	src *oauth2cc.Source
}

// New compiles the config. tokens is the shared token cache; it may be nil
// when the rule does not enable caching.
func New(c Config, client *outbound.Client, tokens *oauth2cc.Cache) (pipeline.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Cache.Enabled && tokens == nil {
		return nil, errors.New("cache.enabled: the service provides no token cache")
	}
	src, err := oauth2cc.New(oauth2cc.Options{TokenURL: c.TokenURL, Scopes: c.RequiredScope,
		Retry: c.Retry.Policy(c.Timeout.Std()), Cache: c.Cache.Enabled, CacheTTL: c.Cache.TTL.Std()}, client, tokens)
	if err != nil {
		return nil, err
	}
	return &Authenticator{src: src}, nil
}

// Authenticate returns pipeline.ErrSkip without HTTP Basic credentials.
// Otherwise the token endpoint decides; on success the subject is the
// client id and Extra is left alone, as in Oathkeeper.
func (a *Authenticator) Authenticate(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	id, secret, err := basicAuth(r)
	if err != nil {
		return err
	}
	// The token only proves the credentials; it is not forwarded.
	if _, err := a.src.Token(ctx, r, id, secret); err != nil {
		return mapError(err)
	}
	s.Subject = id
	return nil
}

// basicAuth reads "Authorization: Basic base64(id:secret)" as net/http
// does, then form-decodes id and secret (RFC 6749 §2.3.1), as Oathkeeper
// does. It returns pipeline.ErrSkip when the request carries no Basic
// credentials.
func basicAuth(r *pipeline.Request) (id, secret string, err error) {
	vals := r.Header.Values("authorization")
	switch {
	case len(vals) == 0:
		return "", "", pipeline.ErrSkip
	case len(vals) > 1:
		return "", "", pipeline.Unauthorized(token.ReasonAmbiguous, `more than one credential in header "Authorization"`, token.ErrAmbiguous)
	}
	const prefix = "basic "
	v := vals[0]
	if len(v) < len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", "", pipeline.ErrSkip
	}
	raw, derr := base64.StdEncoding.DecodeString(v[len(prefix):])
	if derr != nil {
		return "", "", pipeline.ErrSkip
	}
	id, secret, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", pipeline.ErrSkip
	}
	if id, err = url.QueryUnescape(id); err == nil {
		secret, err = url.QueryUnescape(secret)
	}
	if err != nil {
		// The unescape error quotes the offending bytes, which may be
		// part of the secret: it is not kept.
		return "", "", pipeline.Unauthorized(IDMalformed, "the client credentials are not form-encoded correctly", nil)
	}
	return id, secret, nil
}

var _ pipeline.Authenticator = (*Authenticator)(nil)
