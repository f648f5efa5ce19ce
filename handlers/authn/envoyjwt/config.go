package envoyjwt

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
)

// Defaults applied by Validate.
const (
	// DefaultNamespace is the metadata namespace of Envoy's jwt_authn
	// filter; list it in ext_authz metadata_context_namespaces.
	DefaultNamespace = "envoy.filters.http.jwt_authn"
	// DefaultSubjectClaim is the claim the subject is read from.
	DefaultSubjectClaim = "sub"
)

// Config is the envoy_jwt_authn authenticator's config.
type Config struct {
	// Namespace is the metadata_context namespace jwt_authn writes to.
	Namespace string `json:"namespace"`
	// PayloadKey is jwt_authn's payload_in_metadata name (e.g.
	// "jwt_payload"). Empty means the namespace's only struct; with
	// several (two providers, or header_in_metadata) set it explicitly.
	PayloadKey string `json:"payload_key"`
	// SubjectClaim names the top-level string claim used as the subject.
	SubjectClaim string `json:"subject_claim"`
	// TrustedIssuers, when set, admits only payloads whose iss is listed.
	TrustedIssuers []string `json:"trusted_issuers"`
	// RequiredScope lists scopes the token must grant (from scp, scope or
	// scopes, normalised into scp as Oathkeeper's jwt authenticator does).
	RequiredScope []string `json:"required_scope"`
	// ScopeStrategy is exact (default), hierarchic or wildcard.
	ScopeStrategy string `json:"scope_strategy"`
}

// Validate applies defaults and checks every key.
func (c *Config) Validate() error {
	var errs []error
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if strings.TrimSpace(c.Namespace) != c.Namespace {
		errs = append(errs, fmt.Errorf("namespace: invalid namespace %q", c.Namespace))
	}
	if strings.TrimSpace(c.PayloadKey) != c.PayloadKey {
		errs = append(errs, fmt.Errorf("payload_key: invalid key %q", c.PayloadKey))
	}
	if c.SubjectClaim == "" {
		c.SubjectClaim = DefaultSubjectClaim
	}
	for i, iss := range c.TrustedIssuers {
		if iss == "" {
			errs = append(errs, fmt.Errorf("trusted_issuers[%d]: empty issuer", i))
		}
	}
	for i, sc := range c.RequiredScope {
		if sc == "" || strings.ContainsAny(sc, " \t") {
			errs = append(errs, fmt.Errorf("required_scope[%d]: invalid scope %q", i, sc))
		}
	}
	if c.ScopeStrategy == "" {
		c.ScopeStrategy = string(scope.Exact)
	}
	switch st, err := scope.Parse(c.ScopeStrategy); {
	case err != nil:
		errs = append(errs, fmt.Errorf("scope_strategy: %w", err))
	case st == scope.None && len(c.RequiredScope) > 0:
		// Envoy only verified the signature; nobody else would check them.
		errs = append(errs, errors.New("scope_strategy: none cannot check required_scope"))
	}
	return errors.Join(errs...)
}
