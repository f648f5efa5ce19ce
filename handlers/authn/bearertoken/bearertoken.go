package bearertoken

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/session"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is the bearer_token config: Oathkeeper's keys plus the Portcullis
// additions cache and timeout.
type Config struct {
	// CheckSessionURL is the session endpoint (required).
	CheckSessionURL string `json:"check_session_url"`
	// TokenFrom says where the token is (default: Authorization: Bearer).
	TokenFrom *token.From `json:"token_from"`
	// Prefix makes the handler responsible only for tokens that start
	// with it.
	Prefix string `json:"prefix"`
	// PreservePath keeps the path of CheckSessionURL (default true, where
	// Oathkeeper replaced it unless the key was set: a client must not
	// choose the session store's endpoint); an explicit false replaces it
	// by the request path, as Oathkeeper did.
	PreservePath *bool `json:"preserve_path"`
	// PreserveQuery keeps the query of CheckSessionURL (default true);
	// false replaces it by the request query.
	PreserveQuery *bool `json:"preserve_query"`
	// PreserveHost sends X-Forwarded-Host with the request host.
	PreserveHost bool `json:"preserve_host"`
	// ForceMethod is the method of the session call (default: the
	// request's, with HEAD sent as GET; see session.Call).
	ForceMethod string `json:"force_method"`
	// ForwardHTTPHeaders are copied from the request; Authorization
	// always is. A token taken from a query parameter or cookie reaches
	// the session store only through preserve_query: false or by
	// forwarding Cookie, as in Oathkeeper.
	ForwardHTTPHeaders []string `json:"forward_http_headers"`
	// AdditionalHeaders are set on the session call.
	AdditionalHeaders map[string]string `json:"additional_headers"`
	// ExtraFrom is the GJSON path of the session extra (default "extra").
	ExtraFrom string `json:"extra_from"`
	// SubjectFrom is the GJSON path of the subject (default "sub").
	SubjectFrom string `json:"subject_from"`
	// Cache reuses successful answers (Portcullis addition).
	Cache session.CacheConfig `json:"cache"`
	// Timeout bounds the session call (Portcullis addition, default
	// 150ms); the check's deadline bounds it too.
	Timeout pipeline.Duration `json:"timeout"`
	// CircuitBreaker tunes the circuit breaker of check_session_url
	// (Portcullis addition; on by default: 5 consecutive failed calls
	// open it for 2s).
	CircuitBreaker session.BreakerConfig `json:"circuit_breaker"`
}

// Validate applies Oathkeeper's defaults and checks every key.
func (c *Config) Validate() error {
	if c.SubjectFrom == "" {
		c.SubjectFrom = "sub"
	}
	if c.ExtraFrom == "" {
		c.ExtraFrom = "extra"
	}
	if c.PreservePath == nil {
		t := true
		c.PreservePath = &t
	}
	if c.PreserveQuery == nil {
		t := true
		c.PreserveQuery = &t
	}
	var errs []error
	if err := c.TokenFrom.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("token_from: %w", err))
	}
	o := c.options()
	return errors.Join(append(errs, o.Validate())...)
}

func (c *Config) options() session.Options {
	return session.Options{
		Handler:            "bearer_token",
		CheckSessionURL:    c.CheckSessionURL,
		ReplacePath:        c.PreservePath != nil && !*c.PreservePath,
		ReplaceQuery:       c.PreserveQuery != nil && !*c.PreserveQuery,
		PreserveHost:       c.PreserveHost,
		ForceMethod:        c.ForceMethod,
		ForwardHTTPHeaders: c.ForwardHTTPHeaders,
		AdditionalHeaders:  c.AdditionalHeaders,
		SubjectFrom:        c.SubjectFrom,
		ExtraFrom:          c.ExtraFrom,
		Timeout:            c.Timeout.Std(),
		Cache:              c.Cache,
		CircuitBreaker:     c.CircuitBreaker,
		Always:             []string{"Authorization"},
	}
}

// Authenticator asks a session store whether the request's token belongs
// to a session. It is safe for concurrent use.
type Authenticator struct {
	from   *token.From
	prefix string
	call   *session.Call
}

// New compiles the config. cache is the shared session cache; it may be nil
// when the rule does not enable caching.
func New(c Config, client *outbound.Client, cache *session.StoreCache) (pipeline.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	call, err := session.New(c.options(), client, cache)
	if err != nil {
		return nil, err
	}
	return &Authenticator{from: c.TokenFrom, prefix: c.Prefix, call: call}, nil
}

// Authenticate returns pipeline.ErrSkip when the request has no token where
// token_from says, or one without the prefix; an ambiguous credential
// (token.ErrAmbiguous) is a 401. Otherwise the session store decides, and
// its failure stops the chain.
func (a *Authenticator) Authenticate(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	tok, err := a.from.Extract(r)
	if err != nil {
		return err
	}
	if tok == "" || !strings.HasPrefix(tok, a.prefix) {
		return pipeline.ErrSkip
	}
	return a.call.Authenticate(ctx, r, s)
}

var _ pipeline.Authenticator = (*Authenticator)(nil)
