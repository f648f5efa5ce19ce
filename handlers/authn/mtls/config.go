package mtls

import (
	"errors"
	"fmt"
)

// Values of subject_from.
const (
	// SubjectPrincipal uses the whole principal, e.g.
	// "spiffe://prod.example/ns/shop/sa/web" (the default).
	SubjectPrincipal = "principal"
	// SubjectPath uses the SPIFFE ID's path, e.g. "/ns/shop/sa/web"; it
	// requires SPIFFE IDs.
	SubjectPath = "path"
)

// Config is the mtls authenticator's config.
type Config struct {
	// TrustDomains, when set, admits only SPIFFE IDs of these trust
	// domains (exact, lower-case).
	TrustDomains []string `json:"trust_domains"`
	// AllowedIDs, when set, admits only SPIFFE IDs matching one of these
	// patterns: a SPIFFE ID in which a whole path segment may be "*",
	// matching exactly one segment ("spiffe://prod.example/ns/*/sa/web").
	// Globs rather than regexps: an unanchored or over-broad regexp is the
	// classic way to admit the wrong workload.
	AllowedIDs []string `json:"allowed_ids"`
	// SubjectFrom selects the session subject: "principal" (default) or
	// "path".
	SubjectFrom string `json:"subject_from"`
}

// Validate applies defaults and checks every key.
func (c *Config) Validate() error {
	var errs []error
	domains := make(map[string]bool, len(c.TrustDomains))
	for i, td := range c.TrustDomains {
		if err := checkTrustDomain(td); err != nil {
			errs = append(errs, fmt.Errorf("trust_domains[%d]: %q: %w", i, td, err))
		}
		domains[td] = true
	}
	for i, p := range c.AllowedIDs {
		_, td, err := parsePattern(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("allowed_ids[%d]: %q: %w", i, p, err))
		case len(domains) > 0 && !domains[td]:
			errs = append(errs, fmt.Errorf("allowed_ids[%d]: trust domain %q is not in trust_domains", i, td))
		}
	}
	switch c.SubjectFrom {
	case "":
		c.SubjectFrom = SubjectPrincipal
	case SubjectPrincipal, SubjectPath:
	default:
		errs = append(errs, fmt.Errorf("subject_from: unsupported value %q (want principal or path)", c.SubjectFrom))
	}
	return errors.Join(errs...)
}
