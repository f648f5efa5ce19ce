// Package wwwauthenticate is the "www_authenticate" error handler: it
// answers 401 with a Basic challenge so a browser shows its credentials
// prompt.
//
// Portcullis divergence: the realm is sent as an RFC 9110 quoted-string,
// `Basic realm="Please authenticate."`. Oathkeeper writes it unquoted
// (`Basic realm=Please authenticate.`), which is not valid auth-param syntax
// once the realm contains a space. Because the realm is quoted, a realm
// containing a double quote, a backslash or a control character is rejected
// when the config is loaded.
//
// The package owns that response only. It imports pipeline and the standard
// library; it must not import authz, rulestore, envoy or another handler
// package.
package wwwauthenticate
