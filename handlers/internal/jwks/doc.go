// Package jwks is the process-wide cache of JSON Web Key Sets that every
// jwt authenticator (and anything else that verifies signatures) shares.
//
// Rules register their jwks_urls at compile time (Register); Run refreshes
// each set in the background every TTL, retries failed fetches with
// exponential backoff and keeps serving the last good keys while an
// endpoint is down (SECURITY_CASES E-06) up to Options.MaxStale. A token
// with an unknown kid may force a refetch, but at most one per URL per
// Options.MinRefetchInterval however many requests ask at once, so random
// kids cannot turn the gateway into a JWKS flooder (A-35; Oathkeeper
// refetched every URL on every miss).
//
// Keys are vetted once, when a set is loaded, not per request: encryption
// keys, RSA keys below 2048 bits (or above 8192, or with a small exponent),
// EC points off their named curve, X25519 keys, keys whose alg is not a
// signature algorithm and HMAC secrets shorter than 32 bytes are dropped
// . Private members are stripped. Symmetric keys are kept but
// only ever fit HS* algorithms, which a rule must allow explicitly.
//
// Remote sets are fetched through the shared outbound client (timeout, size
// cap, no redirects); file:// sets are read from disk with the same cap.
// Nothing here ever follows a URL found in a token or a key (jku, x5u).
//
// jwks imports handlers/internal/outbound, jwx and zap. It must not import
// authz, rulestore, envoy or any handler package.
package jwks
