// Package remotecall holds what every handler that calls a remote service
// shares, so that each rule of the call is written once:
//
//   - Endpoint and Retry: a POST to a fixed URL with a deadline per attempt
//     and bounded retries under one overall deadline and the caller's
//     (RetryConfig is Oathkeeper's retry block with that bounded meaning),
//     each attempt guarded by the endpoint's circuit breaker
//     (BreakerConfig, handlers/internal/breaker);
//   - ParseURL: endpoint URLs are absolute http(s), never templates
//     (SECURITY_CASES D-01); names and values sent are checked with
//     x/net's httpguts, as everywhere else in handlers;
//   - CheckJSON: remote JSON must be one value without duplicate keys
//     (D-17), so every parser reads it the same way;
//   - RateLimitHeader and RateLimited: a 429 is passed on with its
//     rate-limit headers and no other;
//   - Cache and Keyer: a bounded LRU cache of remote answers, shared by the
//     rules of a handler, found by a keyed fast hash of the key material
//     and checked by a constant-time comparison of all of it, so that a
//     collision is a miss;
//   - Flight and Coalesce: concurrent identical calls share one in-flight
//     request, each caller still bounded by its own check budget;
//     DefaultCallTimeout bounds a call whose rule sets no timeout;
//   - the remote authorizers' parts (remote, remote_json,
//     keto_engine_acp_ory): HeaderTemplates, ForwardHeaders and the mapping
//     of their answers and failures (AuthorizerStatusError,
//     AuthorizerCallError).
//
// Status mapping is otherwise left to each handler: the same failure means
// different things to a session check and an authorizer.
//
// Every call goes through handlers/internal/outbound. No error text or log
// line made here holds a credential. A cache entry holds the key material
// it was stored under, to compare it on every hit (the token or cookie a
// request carried, for one); a part added with Hasher.Secret (a client
// secret) is held only as a salted digest.
//
// remotecall imports pipeline, pipeline/tmpl, handlers/internal/outbound
// and handlers/internal/breaker.
// It must not import a handler package, authz, rulestore or envoy.
package remotecall
