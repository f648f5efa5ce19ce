// Package json is the "json" error handler: it renders a failure as
// Oathkeeper's (herodot's) JSON error document,
//
//	{"error":{"code":401,"status":"Unauthorized","message":"...","request":"<id>"}}
//
// with Content-Type application/json. By default the message is the generic
// one for the status, so nothing a handler learned about the failure leaks
// to the client; with verbose: true the *pipeline.Error's public Message,
// Reason, ID and Details are added. The cause (Error.Err) is never rendered.
//
// The package owns that rendering only. It imports pipeline, the standard
// library and x/net's httpguts (header syntax); it must not import authz,
// rulestore, envoy or another handler package.
//
// Import it under an alias (errjson) where encoding/json is also used.
package json
