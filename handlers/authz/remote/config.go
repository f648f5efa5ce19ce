package remote

import (
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Defaults applied by Validate.
const (
	// DefaultTimeout bounds one attempt. Oathkeeper had no effective
	// timeout; Envoy's own ext_authz timeout defaults to 200ms, so a
	// decision that takes longer than this is useless anyway.
	DefaultTimeout = time.Second
	// DefaultGiveUpAfter and DefaultMaxDelay are Oathkeeper's schema
	// defaults for the retry block.
	DefaultGiveUpAfter = time.Second
	DefaultMaxDelay    = 100 * time.Millisecond
)

// Config is the remote authorizer's config: Oathkeeper's keys plus timeout.
type Config struct {
	// Remote is the URL the decision request is POSTed to. It is not a
	// template (SECURITY_CASES D-01).
	Remote string `json:"remote"`
	// Headers are templates over the session, rendered per request; a
	// header that renders empty is not sent.
	Headers map[string]string `json:"headers"`
	// ForwardResponseHeadersToUpstream names headers of the remote's 200
	// answer to set on the upstream request. Absent ones are removed from
	// the upstream request rather than set to "" as in Oathkeeper.
	ForwardResponseHeadersToUpstream []string `json:"forward_response_headers_to_upstream"`
	// Retry enables bounded retries. Without it there is one attempt.
	Retry *Retry `json:"retry"`
	// Timeout bounds each attempt (default DefaultTimeout). A Portcullis
	// extension.
	Timeout pipeline.Duration `json:"timeout"`
}

// Retry is Oathkeeper's retry block, with a meaning that bounds latency:
// connection errors and 5xx answers are retried, with jittered exponential
// backoff of at most MaxDelay, until GiveUpAfter has passed since the first
// attempt (Oathkeeper read give_up_after as a backoff cap and had no
// overall deadline).
type Retry struct {
	// GiveUpAfter is the budget for all attempts (default 1s).
	GiveUpAfter pipeline.Duration `json:"give_up_after"`
	// MaxDelay caps the wait between attempts (default 100ms).
	MaxDelay pipeline.Duration `json:"max_delay"`
}

// Validate applies defaults and checks every key; it may be called more
// than once.
func (c *Config) Validate() error {
	var errs []error
	if _, err := parseEndpoint(c.Remote); err != nil {
		errs = append(errs, fmt.Errorf("remote: %w", err))
	}
	if err := checkHeaderNames(c.Headers); err != nil {
		errs = append(errs, err)
	}
	if err := checkForwardNames(c.ForwardResponseHeadersToUpstream); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Timeout < 0:
		errs = append(errs, errors.New("timeout: must not be negative"))
	case c.Timeout == 0:
		c.Timeout = pipeline.Duration(DefaultTimeout)
	}
	if c.Retry != nil {
		if err := c.Retry.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Retry) validate() error {
	if r.GiveUpAfter < 0 {
		return errors.New("retry.give_up_after: must not be negative")
	}
	if r.MaxDelay < 0 {
		return errors.New("retry.max_delay: must not be negative")
	}
	if r.GiveUpAfter == 0 {
		r.GiveUpAfter = pipeline.Duration(DefaultGiveUpAfter)
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = pipeline.Duration(DefaultMaxDelay)
	}
	if r.MaxDelay > r.GiveUpAfter {
		return fmt.Errorf("retry.max_delay: %s exceeds retry.give_up_after %s", r.MaxDelay.Std(), r.GiveUpAfter.Std())
	}
	return nil
}

// caller builds the call settings from a validated config.
func (c *Config) caller() (*caller, error) {
	u, err := parseEndpoint(c.Remote)
	if err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	cl := &caller{url: u, timeout: c.Timeout.Std()}
	if c.Retry != nil {
		cl.budget, cl.maxDelay = c.Retry.GiveUpAfter.Std(), c.Retry.MaxDelay.Std()
	}
	return cl, nil
}
