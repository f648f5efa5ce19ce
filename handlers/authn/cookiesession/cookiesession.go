package cookiesession

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/session"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is the cookie_session config: Oathkeeper's keys plus the
// Portcullis additions cache and timeout.
type Config struct {
	// CheckSessionURL is the session endpoint (required).
	CheckSessionURL string `json:"check_session_url"`
	// Only lists the cookies that make the handler responsible; empty
	// means any cookie does (and then a request with any cookie never
	// reaches a later authenticator, Oathkeeper issue #1017).
	Only []string `json:"only"`
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
	// ForwardHTTPHeaders are copied from the request; Cookie always is.
	ForwardHTTPHeaders []string `json:"forward_http_headers"`
	// AdditionalHeaders are set on the session call.
	AdditionalHeaders map[string]string `json:"additional_headers"`
	// ExtraFrom is the GJSON path of the session extra (default "extra").
	ExtraFrom string `json:"extra_from"`
	// SubjectFrom is the GJSON path of the subject (default "subject").
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
		c.SubjectFrom = "subject"
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
	for i, name := range c.Only {
		if !validCookieName(name) {
			errs = append(errs, fmt.Errorf("only[%d]: invalid cookie name %q", i, name))
		}
	}
	o := c.options()
	return errors.Join(append(errs, o.Validate())...)
}

func (c *Config) options() session.Options {
	return session.Options{
		Handler:            "cookie_session",
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
		Always:             []string{"Cookie"},
	}
}

// Authenticator asks a session store whether the request's cookies belong
// to a session. It is safe for concurrent use.
type Authenticator struct {
	only []string
	call *session.Call
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
	return &Authenticator{only: c.Only, call: call}, nil
}

// Authenticate returns pipeline.ErrSkip when the request carries no cookie
// (or none of the cookies named in only); otherwise the session store
// decides, and its failure stops the chain.
func (a *Authenticator) Authenticate(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	if !a.responsible(r) {
		return pipeline.ErrSkip
	}
	return a.call.Authenticate(ctx, r, s)
}

// responsible reports whether a Cookie header holds a cookie with a valid
// name that only admits. Like net/http's Request.Cookies it skips
// malformed pairs, and it handles several Cookie header values.
func (a *Authenticator) responsible(r *pipeline.Request) bool {
	for _, line := range r.Header.Values("cookie") {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, _, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || !validCookieName(name) {
				continue
			}
			if len(a.only) == 0 {
				return true
			}
			for _, o := range a.only {
				if o == name {
					return true
				}
			}
		}
	}
	return false
}

// validCookieName reports whether s is an RFC 6265 cookie-name (a token).
func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

var _ pipeline.Authenticator = (*Authenticator)(nil)
