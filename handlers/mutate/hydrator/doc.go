// Package hydrator is the "hydrator" mutator: it POSTs the session, in
// Oathkeeper's AuthenticationSession wire format, to a remote API and
// replaces the session's Extra and Header with the API's answer, so a
// service can enrich an identity (roles, tenant, profile) before the other
// mutators render their templates. The answer's headers follow the header
// mutators' policy (handlers/internal/headerpolicy): a hop-by-hop, framing
// or x-envoy-* header that no earlier mutator set fails the request
// (hydrator_header_forbidden), and Host is dropped.
//
// The call goes through handlers/internal/outbound (timeout, size limit, no
// redirects) and is retried under one overall deadline, api.retry's
// give_up_after (Oathkeeper's resilient client had no effective deadline).
// Like Oathkeeper it forwards the original request's headers (credentials
// included: the API is trusted with them) and query, adds basic auth and
// Content-Type: application/json. The answer must be a JSON object without
// duplicate keys whose subject equals the current one; anything else fails
// the request closed: 500 for a wrong answer, 503 when the API cannot be
// reached in time.
//
// With cache.enabled, successful answers are reused for cache.ttl from a
// bounded cache shared by all rules (NewCache). The key covers the API
// URL and credentials, the forwarded headers and the session document,
// minus per-request trace headers (traceparent, x-request-id, ...), which
// would otherwise make every request a miss; it is compared in full, in
// constant time, on every hit.
//
// The package owns that mutation only. It imports pipeline,
// handlers/internal/outbound and handlers/internal/remotecall (retry,
// cache, strict JSON); it must not import authz, rulestore, envoy or
// another handler package.
package hydrator
