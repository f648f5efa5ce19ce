// Package cookiesession is the "cookie_session" authenticator: when the
// request carries a session cookie it asks a session store (Ory Kratos'
// /sessions/whoami, for example) and takes the subject and extra from the
// JSON answer.
//
// Oathkeeper's keys and semantics are kept, including preserve_query
// defaulting to true and Cookie always being forwarded. Portcullis adds a
// call timeout and an optional cache keyed on everything the call forwards
// (SECURITY D-11), and asks with GET when the request is a HEAD (Oathkeeper
// issue #1172). The shared call logic lives in handlers/internal/session.
//
// cookiesession imports pipeline and handlers/internal/*; it must not import
// another handler package, authz, rulestore or envoy.
package cookiesession
