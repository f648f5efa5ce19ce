// Package scope holds the OAuth 2.0 scope matching strategies that
// Oathkeeper borrowed from fosite (exact, hierarchic, wildcard, none) and the
// normalisation of a token's scope claim (scp, scope or scopes) into one
// []string stored under "scp".
//
// It is shared by the jwt and oauth2_introspection authenticators. It imports
// the standard library only and must not import pipeline handlers, authz,
// rulestore or envoy.
package scope
