package hydrator

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// DefaultCacheTTL is Oathkeeper's schema default for cache.ttl.
const DefaultCacheTTL = time.Minute

// Config is the hydrator's config, with Oathkeeper's keys.
type Config struct {
	// API describes the remote endpoint. api.url is required.
	API API `json:"api"`
	// Cache turns reuse of successful answers on.
	Cache CacheConfig `json:"cache"`
}

// API is the api block.
type API struct {
	// URL is the absolute http(s) URL the session is POSTed to. Its query
	// parameters win over the original request's of the same name.
	URL string `json:"url"`
	// Auth holds the credentials for the API.
	Auth *Auth `json:"auth,omitempty"`
	// Retry bounds the call: give_up_after is the deadline of all attempts
	// together (default 150ms, within the check's own deadline), max_delay
	// caps the pause between two attempts
	// (default 100ms).
	Retry remotecall.RetryConfig `json:"retry"`
	// CircuitBreaker tunes the circuit breaker of the API URL (a
	// Portcullis addition; on by default: 5 consecutive failed attempts
	// open it for 2s).
	CircuitBreaker remotecall.BreakerConfig `json:"circuit_breaker"`
}

// Auth is the api.auth block.
type Auth struct {
	// Basic is sent as HTTP basic authentication.
	Basic *Basic `json:"basic,omitempty"`
}

// Basic holds basic-auth credentials. The password is never logged or put
// in an error.
type Basic struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// CacheConfig is the cache block.
type CacheConfig struct {
	// Enabled turns the cache on (default off).
	Enabled bool `json:"enabled"`
	// TTL is how long an answer is reused (default 1m).
	TTL pipeline.Duration `json:"ttl"`
}

// Validate applies defaults and reports every bad key.
func (c *Config) Validate() error {
	var errs []error
	if u, err := remotecall.ParseURL(c.API.URL); err != nil {
		errs = append(errs, fmt.Errorf("api.url: %w", err))
	} else if u.User != nil {
		errs = append(errs, errors.New("api.url: must not carry user info; use api.auth.basic"))
	}
	if c.API.Auth != nil && c.API.Auth.Basic != nil {
		switch b := c.API.Auth.Basic; {
		case b.Username == "":
			errs = append(errs, errors.New("api.auth.basic.username: required"))
		case strings.Contains(b.Username, ":"):
			// RFC 7617: the user-id ends at the first colon.
			errs = append(errs, errors.New("api.auth.basic.username: must not contain ':'"))
		case !httpguts.ValidHeaderFieldValue(b.Username):
			errs = append(errs, errors.New("api.auth.basic.username: contains a control character"))
		}
	}
	if c.API.Retry.GiveUpAfter == 0 {
		// The call, retries included, fits the default check budget, so
		// an API that does not answer is hydrator_unavailable, not a
		// spent budget.
		c.API.Retry.GiveUpAfter = pipeline.Duration(remotecall.DefaultCallTimeout)
	}
	if err := c.API.Retry.Validate("api.retry", 0); err != nil {
		errs = append(errs, err)
	}
	if err := c.API.CircuitBreaker.Validate("api.circuit_breaker"); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Cache.TTL < 0:
		errs = append(errs, errors.New("cache.ttl: must not be negative"))
	case c.Cache.TTL == 0:
		c.Cache.TTL = pipeline.Duration(DefaultCacheTTL)
	}
	return errors.Join(errs...)
}

// Cache holds hydrator answers across rules and rule reloads. Share one
// instance between all hydrator mutators; it is safe for concurrent use and
// needs no goroutine or Close.
type Cache = remotecall.Cache[[]byte]

// NewCache returns a cache bounded by entry count and total answer bytes
// (zero means the defaults: 10 000 entries, 64 MiB).
func NewCache(maxEntries int, maxBytes int64) *Cache {
	return remotecall.NewCache[[]byte](remotecall.CacheOptions{MaxEntries: maxEntries, MaxBytes: maxBytes})
}
