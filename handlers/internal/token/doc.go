// Package token finds the credential of a request where Oathkeeper's
// token_from option says it is: the Authorization header as a Bearer token
// (the default), another header, a query parameter or a cookie.
//
// The Authorization header is parsed by one rule, Oathkeeper's: the scheme
// is everything before the first space and must be "bearer" in any case,
// and the credential is everything after that space, byte for byte (inner
// spaces kept, nothing trimmed). A credential read from another header is
// that header's whole value, also untrimmed. So "Bearer a b" yields "a b",
// "Bearer  t" yields " t", and "Bearer\tt" carries no Bearer credential.
//
// It is shared by the jwt, bearer_token and oauth2_introspection
// authenticators. Unlike Oathkeeper it refuses ambiguous credentials (two
// Authorization values, values Envoy joined with a comma, repeated query
// parameters or cookies, a token sent in two places), because picking one
// half of a duplicated credential is how CVE-2021-32777 style bypasses work
// (SECURITY_CASES C-07).
//
// It imports pipeline and the standard library only; it must not import
// another handler package, authz, rulestore or envoy.
package token
