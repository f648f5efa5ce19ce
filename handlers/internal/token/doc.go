// Package token finds the credential of a request where Oathkeeper's
// token_from option says it is: the Authorization header as a Bearer token
// (the default), another header, a query parameter or a cookie.
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
