// Package cookiesession is the "cookie_session" authenticator: when the
// request carries a session cookie it asks a session store (Ory Kratos'
// /sessions/whoami, for example) and takes the subject and extra from the
// JSON answer.
//
// Oathkeeper's keys and semantics are kept, including preserve_query
// defaulting to true, the request's method unless force_method is set, and
// Cookie always being forwarded. One default differs: the call goes to
// check_session_url with its path, and an absent preserve_path no longer
// replaces that path with the request's (which let any client steer the
// call to any path on the session store's host, issue #8); an explicit
// preserve_path: false keeps Oathkeeper's replacement. Portcullis adds a
// call timeout and an optional cache keyed on everything the call forwards
// (SECURITY D-11), and asks with GET when the request is a HEAD (Oathkeeper
// issue #1172). The shared call logic lives in handlers/internal/session.
//
// cookiesession imports pipeline and handlers/internal/*; it must not import
// another handler package, authz, rulestore or envoy.
package cookiesession
