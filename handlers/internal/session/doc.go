// Package session is the session-store call that cookie_session and
// bearer_token share.
//
// It compiles the call once (Options, New, Call): the URL built from
// check_session_url with preserve_path and preserve_query, force_method,
// the forwarded and additional headers, X-Forwarded-Host for
// preserve_host, Oathkeeper's status mapping (200 read, 429 passed on with
// its rate-limit headers, anything else 401, transport failure 403) and
// subject_from / extra_from read with GJSON (Parse). Answers may be cached
// in a StoreCache shared by both handlers.
//
// What any remote call needs (URL checks, the strict JSON check, the
// rate-limit headers, the bounded cache) lives in
// handlers/internal/remotecall.
//
// Every call goes through handlers/internal/outbound with a context
// deadline. No error, log line or cache key holds a credential in the
// clear.
//
// session imports pipeline, handlers/internal/outbound,
// handlers/internal/remotecall and gjson. It must not import a handler
// package, authz, rulestore or envoy.
package session
