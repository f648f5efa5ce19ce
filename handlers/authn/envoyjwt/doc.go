// Package envoyjwt is the "envoy_jwt_authn" authenticator: it trusts the
// JWT payload that Envoy's jwt_authn filter already verified and put in
// the request's metadata (payload_in_metadata), which ext_authz forwards
// when the namespace is listed in metadata_context_namespaces. Nothing is
// re-verified: the trust rests on Envoy's configuration, and on Envoy being
// the only path to this service.
//
// The subject is a top-level string claim (default sub); Extra holds a
// copy of the claims with scopes normalised into scp. trusted_issuers and
// required_scope add checks Envoy may not make per route. Without a
// payload the authenticator is not responsible (a 401 envoy_jwt_missing
// wrapping pipeline.ErrSkip), so a later authenticator may try.
//
// It imports pipeline and handlers/internal/scope; it must not import
// authz, rulestore, envoy or another handler package.
package envoyjwt
