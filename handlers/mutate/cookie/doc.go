// Package cookie is the "cookie" mutator: it sets the upstream Cookie
// header to the rule's cookies, rendered from templates over the session,
// followed by the client's own cookies whose names the rule does not set.
//
// Rule cookies replace client cookies of the same name: every client copy is
// removed, compared case-insensitively because some upstream frameworks look
// cookies up that way (C-10). A rendered value is written as Oathkeeper's
// net/http cookie writer writes it: wrapped in DQUOTEs when it contains a
// space or a comma, so "alice, role=admin" stays one cookie. Where net/http
// would silently drop bytes no cookie can carry (control characters,
// non-ASCII, '"' other than a surrounding pair, ';' and '\'), the request
// fails closed instead with reason cookie_value_invalid: dropping them
// changes the value, and "alice\"" must not become alice's cookie.
// Templates that carry arbitrary text should encode it, e.g.
// {{ .Extra.name | urlquery }} or {{ .Extra.name | b64enc }}.
//
// The package owns that mutation only. It imports pipeline, pipeline/tmpl
// and the standard library (plus x/net's httpguts for token rules); it must
// not import authz, rulestore, envoy or another handler package.
package cookie
