// Package oauth2cc is a client-credentials token source (RFC 6749 §4.4):
// it performs grants with the client authenticated by HTTP Basic in the
// header, reads the token response strictly, caches tokens until shortly
// before they expire (bounded by a configured ttl), and runs at most one
// grant per client at a time.
//
// It serves the oauth2_client_credentials authenticator, which checks a
// caller's own client credentials by performing a grant with them, and the
// pre_authorization block of oauth2_introspection, which needs a bearer token
// for the introspection endpoint. Cache keys are salted digests that cover
// the client secret, so no secret sits in memory as a map key.
//
// oauth2cc imports pipeline, handlers/internal/outbound and
// handlers/internal/remotecall. It must not import a handler package, authz,
// rulestore or envoy.
package oauth2cc
