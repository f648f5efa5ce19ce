package envoyjwt

import (
	"context"
	"maps"
	"slices"

	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Authenticator trusts a JWT payload that Envoy's jwt_authn filter
// verified and published as request metadata. It performs no I/O and is
// immutable after New.
type Authenticator struct {
	namespace, payloadKey, subjectClaim string
	issuers                             map[string]bool
	required                            []string
	strategy                            scope.Strategy
}

// New compiles c (validating it first).
func New(c Config) (pipeline.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	st, _ := scope.Parse(c.ScopeStrategy) // validated above
	a := &Authenticator{namespace: c.Namespace, payloadKey: c.PayloadKey, subjectClaim: c.SubjectClaim,
		required: c.RequiredScope, strategy: st}
	if len(c.TrustedIssuers) > 0 {
		a.issuers = make(map[string]bool, len(c.TrustedIssuers))
		for _, iss := range c.TrustedIssuers {
			a.issuers[iss] = true
		}
	}
	return a, nil
}

// Authenticate takes the subject and claims from the verified payload.
//
// No payload (the namespace or key is absent: jwt_authn let the request
// through without a token) means not responsible: a 401
// (envoy_jwt_missing) wrapping pipeline.ErrSkip. A payload of the wrong
// shape, or several candidates without payload_key, is a 500: that is a
// mismatch between this config and Envoy's, not the client's doing.
func (a *Authenticator) Authenticate(_ context.Context, r *pipeline.Request, s *pipeline.Session) error {
	payload, err := a.payload(r.Metadata[a.namespace])
	if err != nil {
		return err
	}
	claims := maps.Clone(payload)
	if a.issuers != nil {
		if iss, _ := claims["iss"].(string); !a.issuers[iss] {
			return pipeline.Unauthorized("envoy_jwt_untrusted_issuer", "the token's issuer is not trusted", nil)
		}
	}
	sub, _ := claims[a.subjectClaim].(string)
	switch {
	case sub == "":
		return pipeline.Unauthorized("envoy_jwt_subject_missing", "the token has no subject claim "+a.subjectClaim, nil)
	case !printable(sub):
		return pipeline.Unauthorized("envoy_jwt_subject_invalid", "the token's subject contains control characters", nil)
	}
	granted := scope.Normalize(claims)
	for _, want := range a.required {
		if !a.strategy.Satisfied(granted, want) {
			e := pipeline.Forbidden("envoy_jwt_scope_missing", "the token does not grant a required scope", nil)
			e.Details = map[string]any{"required_scope": want}
			return e
		}
	}
	s.Subject, s.Extra = sub, claims
	return nil
}

// payload finds the payload struct in the namespace.
func (a *Authenticator) payload(ns map[string]any) (map[string]any, error) {
	notResponsible := func() error {
		return pipeline.Unauthorized("envoy_jwt_missing", "no verified JWT payload in "+a.namespace, pipeline.ErrSkip)
	}
	if a.payloadKey != "" {
		v, ok := ns[a.payloadKey]
		if !ok {
			return nil, notResponsible()
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, pipeline.Internal("envoy_jwt_payload_invalid", "metadata "+a.namespace+"."+a.payloadKey+" is not a struct", nil)
		}
		return m, nil
	}
	var keys []string
	var found map[string]any
	for k, v := range ns {
		if m, ok := v.(map[string]any); ok {
			keys, found = append(keys, k), m
		}
	}
	switch len(keys) {
	case 0:
		return nil, notResponsible()
	case 1:
		return found, nil
	}
	// Map order is random: picking one would make the subject depend on
	// luck (and header_in_metadata puts the JWT header next to it).
	slices.Sort(keys)
	e := pipeline.Internal("envoy_jwt_payload_ambiguous", "several structs in "+a.namespace+"; set payload_key", nil)
	e.Details = map[string]any{"keys": keys}
	return nil, e
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
