// Package idtoken is the "id_token" mutator: it mints a JWT signed by the
// gateway for the upstream, as Oathkeeper's mutator of the same name does,
// and it owns Signers, the process-wide registry of the signing key sets
// whose public keys the HTTP API serves at /.well-known/jwks.json.
//
// Claims come from a template over the session; iss, sub, exp, iat, nbf and
// jti are always set by the mutator, after the template. The first
// asymmetric private key of the jwks_url set signs (Oathkeeper's kid rule);
// every public key of the set is published, never a private member. Minted
// tokens are cached until 90% of their ttl under a key that covers every
// input of the token. A set holding a symmetric (HS*) key fails to load: a
// shared secret cannot be published, and a receiver holding it could mint
// tokens itself. A key set that cannot be fetched when its first rule is
// built (endpoint down, file not mounted yet) does not fail the rule: the
// rule answers 503 id_token_keys_unavailable until Signers.Run, retrying
// with backoff, has loaded it.
//
// Receivers must pin both the gateway's issuer and their own audience: a
// minted token replayed to the gateway, or to another service that trusts
// the same issuer, must be refused there (SECURITY_CASES A-21). Set aud in
// the claims template for that reason.
//
// idtoken imports pipeline, pipeline/tmpl and handlers/internal/outbound.
// It must not import authz, rulestore, envoy or another handler package.
package idtoken
