// Package bearertoken is the "bearer_token" authenticator: when the request
// carries a token (Authorization: Bearer by default, or where token_from
// says) that starts with prefix, it asks a session store and takes the
// subject and extra from the JSON answer.
//
// It shares Oathkeeper's keys and semantics with cookie_session minus only,
// plus token_from and prefix; subject_from defaults to "sub" and
// Authorization is always forwarded. As for cookie_session, an absent
// preserve_path keeps the path of check_session_url (Oathkeeper replaced it
// with the request's, so a client chose where its token was sent: issue
// #8); preserve_path: false restores that. Portcullis adds a call timeout
// and an optional cache keyed on everything the call forwards (SECURITY
// D-11). The call logic lives in handlers/internal/session, token
// extraction in handlers/internal/token.
//
// bearertoken imports pipeline and handlers/internal/*; it must not import
// another handler package, authz, rulestore or envoy.
package bearertoken
