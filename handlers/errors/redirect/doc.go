// Package redirect is the "redirect" error handler: it answers a failed
// check with a 301 or 302 to a configured location, optionally carrying the
// URL the client asked for in a query parameter, so a browser lands on a
// login page and can come back afterwards.
//
// Portcullis divergence (issue #4, item 6): a browser is redirected for
// policy failures only, never for internal faults. Handles is false for any
// failure with a 5xx status, whatever the when conditions say, so a JWKS or
// session-store outage shows as an error (through the next handler or the
// json fallback) instead of sending the user into a login loop.
//
// The package owns that response only. It imports pipeline and the standard
// library; it must not import authz, rulestore, envoy or another handler
// package.
package redirect
