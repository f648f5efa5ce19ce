// Package keto is the "keto_engine_acp_ory" authorizer for legacy ORY
// Keto (≤0.5) access control policies (Oathkeeper §7.4): it POSTs
// {action, resource, subject, context: {remoteIpAddress, requestedAt}} to
// {base_url}/engines/acp/ory/{flavor}/allowed, with action, resource and
// subject rendered from templates over the session (captures via
// .MatchContext.RegexpCaptureGroups).
//
// 200 with "allowed": true allows; "allowed": false or a 403 is a 403
// (keto_denied); 429 is passed on with its rate-limit headers; any other
// status is a 500 and a failed or timed-out call a 503 (keto_unavailable).
// An answer with duplicate keys or a non-boolean "allowed" never allows
// (SECURITY_CASES D-05, D-17).
//
// Differences from Oathkeeper: base_url is not a template and the flavor
// must be regex, exact or glob (both become the URL, D-01); the call has a
// timeout (default 150ms, within the check budget) and is retried only
// with a retry block (Oathkeeper always retried it), behind the circuit
// breaker of its URL (keto_circuit_open); remoteIpAddress is the proxy's
// view of the client, never X-Forwarded-For; with the glob matching
// strategy captures are empty rather than an error.
//
// It imports pipeline, pipeline/tmpl, handlers/internal/outbound,
// handlers/internal/remotecall and gjson; it must not import authz,
// rulestore, envoy or another handler package.
package keto
