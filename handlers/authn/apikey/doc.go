// Package apikey is the "api_key" authenticator: it reads a key from a
// header, query parameter or cookie (optionally after a prefix such as
// "ApiKey "), and accepts it if its SHA-256 digest is in the keys file,
// which lists {id, hash: "sha256:<hex>", subject, extra} as JSON or YAML.
//
// Only digests are stored, so the file is not a secret store; only SHA-256
// is accepted, because API keys are high-entropy random strings for which
// a slow password hash buys nothing but per-request CPU (see hashPrefix).
// Lookup is by digest with a constant-time confirmation, so there is no
// timing oracle on stored keys.
//
// Without a key the authenticator is not responsible (a 401
// api_key_missing wrapping pipeline.ErrSkip); a repeated key is a 401
// (api_key_ambiguous, SECURITY_CASES C-07) and an unknown one a 401
// (api_key_invalid). The file is read when the rule compiles; an error
// names the file and the entry. Extra is the entry's extra plus
// api_key_id.
//
// It imports pipeline and sigs.k8s.io/yaml; it must not import authz,
// rulestore, envoy or another handler package.
package apikey
