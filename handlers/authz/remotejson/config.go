package remotejson

import (
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/net/http/httpguts"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Defaults applied by Validate (see the remote authorizer for the reasons).
const (
	DefaultTimeout     = remotecall.DefaultCallTimeout
	DefaultGiveUpAfter = remotecall.DefaultGiveUpAfter
	DefaultMaxDelay    = remotecall.DefaultMaxDelay
)

// Config is the remote_json authorizer's config: Oathkeeper's keys plus
// timeout, decision_path and circuit_breaker.
type Config struct {
	// Remote is the URL the payload is POSTed to. It is not a template
	// (SECURITY_CASES D-01).
	Remote string `json:"remote"`
	// Headers are templates over the session; empty results are not sent.
	Headers map[string]string `json:"headers"`
	// Payload is a template over the session whose output must be JSON
	// with the structure its text writes (see tmpl.JSON). Use jsonQuote
	// for values: {"sub": {{ jsonQuote .Subject }}}.
	Payload string `json:"payload"`
	// ForwardHTTPHeaders names the client request headers sent to the
	// remote, every value of each (Portcullis addition, default none).
	// Oathkeeper always sent Authorization; list it to keep that. A
	// rendered header of the same name wins.
	ForwardHTTPHeaders []string `json:"forward_http_headers"`
	// ForwardResponseHeadersToUpstream names headers of the remote's
	// allowing answer to set upstream. Absent ones are removed from the
	// upstream request rather than set to "" as in Oathkeeper.
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
	// DecisionPath is a gjson path (e.g. "result.allow") to a boolean in
	// the 200 answer, for servers such as OPA that always answer 200. With
	// it, only a literal true allows. A Portcullis extension (Oathkeeper
	// PR #1170, issue #1125).
	DecisionPath string `json:"decision_path"`
}

// Retry bounds retries: connection errors and 5xx answers are retried with
// jittered exponential backoff of at most max_delay (default 100ms) until
// give_up_after (default 1s) has passed since the first attempt.
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
	switch {
	case strings.TrimSpace(c.Payload) == "":
		errs = append(errs, errors.New("payload: required"))
	case !strings.Contains(c.Payload, "{{") && !json.Valid([]byte(c.Payload)):
		errs = append(errs, errors.New("payload: not a JSON text"))
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
	if c.DecisionPath != "" && (strings.TrimSpace(c.DecisionPath) != c.DecisionPath || !httpguts.ValidHeaderFieldValue(c.DecisionPath)) {
		errs = append(errs, fmt.Errorf("decision_path: invalid path %q", c.DecisionPath))
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
