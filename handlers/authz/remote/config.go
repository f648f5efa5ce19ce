package remote

import (
	"errors"
	"fmt"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Defaults applied by Validate.
const (
	// DefaultTimeout bounds one attempt. Oathkeeper had no effective
	// timeout; Envoy's own ext_authz timeout defaults to 200ms, so this
	// fits the default check budget, which bounds every attempt too.
	DefaultTimeout = remotecall.DefaultCallTimeout
	// DefaultGiveUpAfter and DefaultMaxDelay are Oathkeeper's schema
	// defaults for the retry block.
	DefaultGiveUpAfter = remotecall.DefaultGiveUpAfter
	DefaultMaxDelay    = remotecall.DefaultMaxDelay
)

// Config is the remote authorizer's config: Oathkeeper's keys plus
// forward_http_headers, timeout and circuit_breaker.
type Config struct {
	// Remote is the URL the decision request is POSTed to. It is not a
	// template (SECURITY_CASES D-01).
	Remote string `json:"remote"`
	// Headers are templates over the session, rendered per request; a
	// header that renders empty is not sent. A rendered header replaces a
	// forwarded one of the same name.
	Headers map[string]string `json:"headers"`
	// ForwardHTTPHeaders names the client request headers sent to the
	// remote, every value of each (Portcullis addition, default none).
	// Oathkeeper always sent Authorization; list it (and Cookie, if the
	// remote needs the session) to keep that. Content-Type, which
	// describes the body sent, is always sent.
	ForwardHTTPHeaders []string `json:"forward_http_headers"`
	// ForwardResponseHeadersToUpstream names headers of the remote's 200
	// answer to set on the upstream request. Absent ones are removed from
	// the upstream request rather than set to "" as in Oathkeeper.
	ForwardResponseHeadersToUpstream []string `json:"forward_response_headers_to_upstream"`
	// Retry enables bounded retries. Without it there is one attempt.
	Retry *Retry `json:"retry"`
	// CircuitBreaker tunes the circuit breaker of the endpoint URL (a
	// Portcullis addition; on by default: 5 consecutive failures open it
	// for 2s).
	CircuitBreaker remotecall.BreakerConfig `json:"circuit_breaker"`
	// Timeout bounds each attempt (default DefaultTimeout). A Portcullis
	// extension.
	Timeout pipeline.Duration `json:"timeout"`
}

// Retry is Oathkeeper's retry block, with a meaning that bounds latency:
// connection errors and 5xx answers are retried, with jittered exponential
// backoff of at most max_delay (default 100ms), until give_up_after
// (default 1s) has passed since the first attempt (Oathkeeper read
// give_up_after as a backoff cap and had no overall deadline).
type Retry = remotecall.RetryConfig

// Validate applies defaults and checks every key; it may be called more
// than once.
func (c *Config) Validate() error {
	var errs []error
	if c.Remote == "" {
		errs = append(errs, errors.New("remote: required"))
	} else if _, err := remotecall.ParseURL(c.Remote); err != nil {
		errs = append(errs, fmt.Errorf("remote: %w", err))
	}
	if err := remotecall.CheckHeaderNames(c.Headers); err != nil {
		errs = append(errs, err)
	}
	if names, err := remotecall.CheckRequestHeaderNames(c.ForwardHTTPHeaders); err != nil {
		errs = append(errs, err)
	} else if len(names) > 0 {
		c.ForwardHTTPHeaders = names
	}
	if err := remotecall.CheckForwardNames(c.ForwardResponseHeadersToUpstream); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Timeout < 0:
		errs = append(errs, errors.New("timeout: must not be negative"))
	case c.Timeout == 0:
		c.Timeout = pipeline.Duration(DefaultTimeout)
	}
	if c.Retry != nil {
		if err := c.Retry.ValidateOptional("retry"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.CircuitBreaker.Validate("circuit_breaker"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// endpoint builds the call settings from a validated config.
func (c *Config) endpoint(client *outbound.Client) *remotecall.Endpoint {
	u, _ := remotecall.ParseURL(c.Remote) // checked by Validate
	return &remotecall.Endpoint{Client: client, URL: u, Retry: remotecall.AuthorizerPolicy(c.Retry, c.Timeout.Std()),
		Breaker: c.CircuitBreaker.Breaker(client, u)}
}
