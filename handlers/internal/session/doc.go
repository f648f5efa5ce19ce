// Package session is the session-store call that cookie_session and
// bearer_token share.
//
// It compiles the call once (Options, New, Call): the URL is
// check_session_url, its path and query included; the request's path or
// query replace them only when the rule says preserve_path: false or
// preserve_query: false (Oathkeeper replaced the path whenever
// preserve_path was absent, which let a client steer the call to any path
// on the session store's host: issue #8). It also compiles force_method
// (the request's method otherwise), the forwarded and additional headers,
// X-Forwarded-Host for preserve_host, Oathkeeper's status mapping (200
// read, 429 passed on with its rate-limit headers, anything else 401,
// transport failure 403) and subject_from / extra_from read with GJSON
// (Parse). Answers may be cached in a StoreCache shared by both handlers,
// and concurrent checks that would make the same call share one
// (remotecall.Coalesce), each bounded by its own deadline.
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
