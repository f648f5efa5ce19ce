package remotecall

import (
	"fmt"
	"net/url"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// BreakerConfig is the circuit_breaker block of the handlers that call a
// remote endpoint (a Portcullis addition). The circuit is the endpoint
// URL's, shared with every other handler and rule that calls the same URL;
// these settings are this handler's thresholds on it.
type BreakerConfig struct {
	// Enabled turns circuit breaking on or off (default on).
	Enabled *bool `json:"enabled"`
	// ConsecutiveFailures is the run of failed attempts (transport errors,
	// timeouts, 5xx) that opens the circuit (default 5).
	ConsecutiveFailures int `json:"consecutive_failures"`
	// OpenFor is how long an open circuit refuses calls before one probe
	// may try (default 2s, at most 1m; shortened at random by up to a
	// quarter).
	OpenFor pipeline.Duration `json:"open_for"`
}

// Validate applies defaults and checks the values; prefix names the block
// in messages (e.g. "circuit_breaker").
func (c *BreakerConfig) Validate(prefix string) error {
	switch {
	case c.ConsecutiveFailures < 0:
		return fmt.Errorf("%s.consecutive_failures: must not be negative", prefix)
	case c.OpenFor < 0:
		return fmt.Errorf("%s.open_for: must not be negative", prefix)
	case c.OpenFor.Std() > breaker.MaxOpenFor:
		return fmt.Errorf("%s.open_for: %s exceeds the maximum %s; a long open period keeps a recovered endpoint out of service", prefix, c.OpenFor.Std(), breaker.MaxOpenFor)
	}
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = breaker.DefaultConsecutiveFailures
	}
	if c.OpenFor == 0 {
		c.OpenFor = pipeline.Duration(breaker.DefaultOpenFor)
	}
	return nil
}

// Breaker returns the circuit breaker of calls to u through client, or nil
// when the block turns breaking off. c must have been checked with
// Validate.
func (c BreakerConfig) Breaker(client *outbound.Client, u *url.URL) *breaker.Breaker {
	if c.Enabled != nil && !*c.Enabled {
		return nil
	}
	return client.Breaker(u, breaker.Settings{ConsecutiveFailures: c.ConsecutiveFailures, OpenFor: c.OpenFor.Std()})
}

// CircuitOpenError maps a call refused by an open circuit: 503 with reason
// id, by convention <handler>_circuit_open. what names the endpoint for
// people ("the introspection endpoint").
func CircuitOpenError(id, what string, err error) *pipeline.Error {
	return pipeline.Unavailable(id,
		what+" failed repeatedly; calls to it are paused for a moment and resume by themselves", err)
}
