// Package jwt is the "jwt" authenticator: it verifies a compact JWS bearer
// token against the keys of the rule's jwks_urls and turns its claims into
// the session (Subject = sub, Extra = claims with the scope normalised into
// scp), with Oathkeeper's config keys and semantics.
//
// Where Oathkeeper (or jwx's defaults) is lenient, this package is strict,
// and README_COMPAT.md lists each difference: only compact serialization,
// canonical base64url and a size cap; alg must be allowed by the rule and
// fit the key; jku/x5u/x5c/jwk headers are never used; crit, b64:false and
// nested (cty: JWT) tokens are refused; exp is required by default and
// time claims must be numbers in [0, MaxNumericDate]; a clock skew and a
// maximum lifetime can be configured. Tokens without kid verify when
// exactly one key fits; a token with a kid costs at most MaxCandidateKeys
// signature checks. The token is read by package token's one
// Authorization rule (scheme up to the first space, the rest untrimmed).
//
// Keys come from the shared *jwks.Cache; verified tokens are remembered in
// an optional shared *TokenCache until they expire, so a token is not
// re-verified on every request.
//
// jwt imports pipeline, handlers/internal/{jwks,scope,token}, jwx and zap.
// It must not import authz, rulestore, envoy or another handler package.
package jwt
