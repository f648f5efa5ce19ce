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
// The payload is parsed once at construction (tmpl.ParseJSON). Every
// rendering is checked before it is sent: it must be one JSON text
// (remote_json_payload_invalid otherwise), without duplicate members, and
// the members, separators and brackets of the objects and arrays the
// template text writes must be template text, so a value that breaks out
// of its quotes cannot add or remove a member
// (remote_json_template_output_invalid). What passes is sent byte for
// byte as rendered. Quoting values with jsonQuote avoids the failures.
// The URL is not a template (D-01). Retries, timeouts and header
// forwarding behave as in the remote authorizer.
//
// It imports pipeline, pipeline/tmpl, handlers/internal/outbound,
// handlers/internal/remotecall and gjson; it must not import authz,
// rulestore, envoy or another handler package.
package remotejson
