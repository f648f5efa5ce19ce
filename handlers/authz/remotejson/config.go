package remotejson

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Defaults applied by Validate (see the remote authorizer for the reasons).
const (
	DefaultTimeout     = time.Second
	DefaultGiveUpAfter = time.Second
	DefaultMaxDelay    = 100 * time.Millisecond
)

// Config is the remote_json authorizer's config: Oathkeeper's keys plus
// timeout and decision_path.
type Config struct {
	// Remote is the URL the payload is POSTed to. It is not a template
	// (SECURITY_CASES D-01).
	Remote string `json:"remote"`
	// Headers are templates over the session; empty results are not sent.
	Headers map[string]string `json:"headers"`
	// Payload is a template over the session whose output must be JSON.
	// Use jsonQuote for values: {"sub": {{ jsonQuote .Subject }}}.
	Payload string `json:"payload"`
	// ForwardResponseHeadersToUpstream names headers of the remote's
	// allowing answer to set upstream. Absent ones are removed from the
	// upstream request rather than set to "" as in Oathkeeper.
	ForwardResponseHeadersToUpstream []string `json:"forward_response_headers_to_upstream"`
	// Retry enables bounded retries. Without it there is one attempt.
	Retry *Retry `json:"retry"`
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
// jittered exponential backoff of at most MaxDelay until GiveUpAfter has
// passed since the first attempt.
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
	switch {
	case strings.TrimSpace(c.Payload) == "":
		errs = append(errs, errors.New("payload: required"))
	case !strings.Contains(c.Payload, "{{") && !json.Valid([]byte(c.Payload)):
		errs = append(errs, errors.New("payload: not a JSON text"))
	}
	if err := checkHeaderNames(c.Headers); err != nil {
		errs = append(errs, err)
	}
	if err := checkForwardNames(c.ForwardResponseHeadersToUpstream); err != nil {
		errs = append(errs, err)
	}
	if c.DecisionPath != "" && (strings.TrimSpace(c.DecisionPath) != c.DecisionPath || !validHeaderValue(c.DecisionPath)) {
		errs = append(errs, fmt.Errorf("decision_path: invalid path %q", c.DecisionPath))
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
