// Package session holds what the remote-session authenticators share.
//
// For cookie_session and bearer_token it compiles the session-store call
// (Options, New, Call): the URL built from check_session_url with
// preserve_path and preserve_query, force_method, the forwarded and
// additional headers, X-Forwarded-Host for preserve_host, Oathkeeper's
// status mapping (200 read, 429 passed on with its rate-limit headers,
// anything else 401, transport failure 403) and subject_from / extra_from
// read with GJSON (Parse).
//
// It also holds the remote-call pieces that oauth2_introspection and the
// client-credentials token source (handlers/internal/oauth2cc) reuse: a
// bounded, salted-key LRU Cache; a bounded Retry policy for Oathkeeper's
// retry block; CheckJSON, which rejects remote JSON with duplicate keys; and
// RateLimited for 429 answers. (They would sit better in a neutral
// handlers/internal package; they live here because this engineer owns this
// directory.)
//
// Every call goes through handlers/internal/outbound with a context
// deadline. No error, log line or cache key holds a credential in the
// clear.
//
// session imports pipeline, outbound and gjson. It must not import a
// handler package, authz, rulestore or envoy.
package session
