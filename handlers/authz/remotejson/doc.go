// Package remotejson is the "remote_json" authorizer: it renders a JSON
// payload template over the session, POSTs it with the original
// Authorization to a fixed URL and lets the answer decide (Oathkeeper
// §7.3).
//
// Status mapping is the remote authorizer's: 200 allows; 403 denies
// (remote_json_denied); 429 passes the rate-limit headers on; anything
// else is a 500 and a transport failure or timeout a 503
// (remote_json_unavailable). With decision_path, a 200 allows only if the
// path holds the JSON boolean true; false, a missing path or another type
// is a 403, and a body that is not one duplicate-free JSON value a 500
// (SECURITY_CASES D-05, D-17).
//
// The payload is parsed once at construction and its output validated as
// JSON on every request; templates should quote values with jsonQuote.
// The URL is not a template (D-01). Retries, timeouts and header
// forwarding behave as in the remote authorizer.
//
// It imports pipeline, pipeline/tmpl, handlers/internal/outbound,
// handlers/internal/remotecall and gjson; it must not import authz,
// rulestore, envoy or another handler package.
package remotejson
