package keto

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// DefaultTimeout bounds the call to Keto (Oathkeeper had none in effect);
// it fits the default check budget, which bounds the call too.
const DefaultTimeout = remotecall.DefaultCallTimeout

// DefaultFlavor is Oathkeeper's default ACP flavor.
const DefaultFlavor = "regex"

// flavors are the ORY Keto ≤0.5 ACP engine flavors. The flavor becomes a
// path segment, so anything else is rejected rather than escaped.
var flavors = map[string]bool{"regex": true, "exact": true, "glob": true}

// Config is the keto_engine_acp_ory authorizer's config: Oathkeeper's keys
// plus timeout, retry and circuit_breaker.
type Config struct {
	// BaseURL is Keto's base URL; it is not a template (SECURITY_CASES
	// D-01).
	BaseURL string `json:"base_url"`
	// RequiredAction and RequiredResource are templates over the session,
	// e.g. "orders:{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}".
	RequiredAction   string `json:"required_action"`
	RequiredResource string `json:"required_resource"`
	// Subject is a template over the session; empty means the session's
	// subject.
	Subject string `json:"subject"`
	// Flavor is the ACP engine flavor: regex (default), exact or glob.
	Flavor string `json:"flavor"`
	// Timeout bounds each attempt (default DefaultTimeout). A Portcullis
	// extension.
	Timeout pipeline.Duration `json:"timeout"`
	// Retry enables bounded retries of connection errors and 5xx answers,
	// as for the remote authorizer (a Portcullis addition; Oathkeeper
	// always retried keto). Without it there is one attempt.
	Retry *remotecall.RetryConfig `json:"retry"`
	// CircuitBreaker tunes the circuit breaker of the endpoint URL (a
	// Portcullis addition; on by default: 5 consecutive failures open it
	// for 2s).
	CircuitBreaker remotecall.BreakerConfig `json:"circuit_breaker"`
}

// Validate applies defaults and checks every key; it may be called more
// than once.
func (c *Config) Validate() error {
	var errs []error
	if c.BaseURL == "" {
		errs = append(errs, errors.New("base_url: required"))
	} else if u, err := remotecall.ParseURL(c.BaseURL); err != nil {
		errs = append(errs, fmt.Errorf("base_url: %w", err))
	} else if u.RawQuery != "" || u.ForceQuery {
		errs = append(errs, errors.New("base_url: query not allowed"))
	}
	if strings.TrimSpace(c.RequiredAction) == "" {
		errs = append(errs, errors.New("required_action: required"))
	}
	if strings.TrimSpace(c.RequiredResource) == "" {
		errs = append(errs, errors.New("required_resource: required"))
	}
	if c.Flavor == "" {
		c.Flavor = DefaultFlavor
	}
	if !flavors[c.Flavor] {
		errs = append(errs, fmt.Errorf("flavor: unsupported flavor %q (want regex, exact or glob)", c.Flavor))
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

// endpoint builds the call settings from a validated config: calls to
// {base_url}/engines/acp/ory/{flavor}/allowed, whose circuit breaker is
// that URL's.
func (c *Config) endpoint(client *outbound.Client) *remotecall.Endpoint {
	u, _ := remotecall.ParseURL(c.BaseURL) // checked by Validate
	u.Path = strings.TrimRight(u.Path, "/") + "/engines/acp/ory/" + c.Flavor + "/allowed"
	u.RawPath = ""
	return &remotecall.Endpoint{Client: client, URL: u, Retry: remotecall.AuthorizerPolicy(c.Retry, c.Timeout.Std()),
		Breaker: c.CircuitBreaker.Breaker(client, u)}
}
