// Package cookie is the "cookie" mutator: it sets the upstream Cookie
// header to the rule's cookies, rendered from templates over the session,
// followed by the client's own cookies whose names the rule does not set.
//
// Rule cookies replace client cookies of the same name: every client copy is
// removed, compared case-insensitively because some upstream frameworks look
// cookies up that way (C-10). A rendered value must be a valid RFC 6265
// cookie-value (no whitespace, '"' except as a surrounding pair, ',', ';',
// '\' or control characters); anything else fails the request closed with
// reason cookie_value_invalid instead of being sanitised into a different
// value as Oathkeeper (net/http AddCookie) does. Templates that carry
// arbitrary text should encode it, e.g. {{ .Extra.name | urlquery }} or
// {{ .Extra.name | b64enc }}.
//
// The package owns that mutation only. It imports pipeline, pipeline/tmpl
// and the standard library (plus x/net's httpguts for token rules); it must
// not import authz, rulestore, envoy or another handler package.
package cookie
