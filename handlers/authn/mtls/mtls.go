package mtls

import (
	"context"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Authenticator identifies the caller by the TLS client certificate the
// proxy verified, as Envoy reports it in source.principal. It is immutable
// after New and safe for concurrent use.
type Authenticator struct {
	trustDomains map[string]bool
	allowed      []idPattern
	subjectPath  bool
	spiffeOnly   bool
}

// New compiles c (validating it first).
func New(c Config) (pipeline.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{subjectPath: c.SubjectFrom == SubjectPath}
	if len(c.TrustDomains) > 0 {
		a.trustDomains = make(map[string]bool, len(c.TrustDomains))
		for _, td := range c.TrustDomains {
			a.trustDomains[td] = true
		}
	}
	for _, p := range c.AllowedIDs {
		segs, td, _ := parsePattern(p) // validated above
		a.allowed = append(a.allowed, idPattern{trustDomain: td, segments: segs})
	}
	a.spiffeOnly = a.trustDomains != nil || a.allowed != nil || a.subjectPath
	return a, nil
}

// Authenticate reads r.Source.Principal.
//
// Without a principal (a plain-text or one-way TLS connection) it returns
// a 401 with ID mtls_required that wraps pipeline.ErrSkip: the
// authenticator is not responsible, so a later one (jwt, api_key) may
// still authenticate the request, and if none does the chain answers 401
// as for any request without credentials. Used alone, or read by anything
// that keeps the error, it still says what was missing.
//
// A SPIFFE ID outside trust_domains or a malformed one is a 401; one
// outside allowed_ids a 403. Without trust_domains and allowed_ids any
// principal the proxy verified is accepted, SPIFFE or not (a DNS SAN or a
// subject DN); configure them in a mesh.
func (a *Authenticator) Authenticate(_ context.Context, r *pipeline.Request, s *pipeline.Session) error {
	p := r.Source.Principal
	if p == "" {
		return pipeline.Unauthorized("mtls_required", "the connection did not present a client certificate", pipeline.ErrSkip)
	}
	if !printable(p) {
		return pipeline.Unauthorized("mtls_invalid_principal", "the client certificate principal contains control characters", nil)
	}
	extra := map[string]any{"principal": p, "certificate_present": r.Source.Certificate != ""}
	id, err := parseID(p)
	switch {
	case err != nil && (a.spiffeOnly || hasSPIFFEScheme(p)):
		// A malformed SPIFFE ID is never accepted as a plain principal.
		return pipeline.Unauthorized("mtls_invalid_spiffe_id", "the client certificate does not carry a valid SPIFFE ID", err)
	case err != nil:
		s.Subject, s.Extra = p, extra
		return nil
	case a.trustDomains != nil && !a.trustDomains[id.trustDomain]:
		e := pipeline.Unauthorized("mtls_untrusted_domain", "the client's trust domain is not trusted", nil)
		e.Details = map[string]any{"trust_domain": id.trustDomain}
		return e
	case a.allowed != nil && !a.isAllowed(id):
		return pipeline.Forbidden("mtls_id_not_allowed", "the client's SPIFFE ID is not allowed", nil)
	}
	extra["spiffe"] = map[string]any{"trust_domain": id.trustDomain, "path": id.path}
	s.Subject, s.Extra = p, extra
	if a.subjectPath {
		s.Subject = id.path
	}
	return nil
}

func (a *Authenticator) isAllowed(id spiffeID) bool {
	for _, p := range a.allowed {
		if p.matches(id) {
			return true
		}
	}
	return false
}

func hasSPIFFEScheme(p string) bool {
	return len(p) >= 7 && strings.EqualFold(p[:7], "spiffe:")
}

// printable rejects ASCII control characters: the subject ends up in
// upstream headers (SECURITY_CASES C-05).
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

var _ pipeline.Authenticator = (*Authenticator)(nil)
