// Package remote is the "remote" authorizer: it POSTs the original request
// body, with its Content-Type, the client headers named in
// forward_http_headers and any configured header templates, to a fixed URL
// and lets the status decide (Oathkeeper §7.2).
//
// Status mapping: 200 allows; 403 is a 403 (remote_denied); 429 is a 429
// with the remote's rate-limit headers (remote_rate_limited); any other
// status, a redirect, or an answer over the size limit is a 500
// (remote_unexpected_status, remote_response_too_large); a transport error
// or timeout is a 503 (remote_unavailable). It never allows on doubt.
//
// Differences from Oathkeeper, all on the safe side: the client's
// Authorization (or any other of its headers, Cookie included) is sent
// only when forward_http_headers names it, where Oathkeeper always sent
// Authorization (issue #8); a body that Envoy marks as cut short
// (x-envoy-auth-partial-body, with_request_body.allow_partial_message) is
// never sent as if whole: the request is denied with 413,
// remote_body_partial, before any call; the URL is not a
// template and "{{" in it is rejected (SECURITY_CASES D-01); every attempt
// has a timeout and retries (only with a retry block, only on connection
// errors and 5xx) stop at give_up_after; a header listed in
// forward_response_headers_to_upstream that the remote did not send is not
// set to "" but put in Session.RemoveHeaders, so the upstream sees neither
// an empty value nor a copy the client sent itself.
//
// The call, its retries, the header templates and the status mapping are
// shared with remote_json and keto_engine_acp_ory through
// handlers/internal/remotecall.
//
// It imports pipeline, handlers/internal/outbound and
// handlers/internal/remotecall; it must not import authz, rulestore, envoy
// or another handler package.
package remote
