// Package envoyresp is the "envoy" mutator, a Portcullis extension (issue
// #4, item 4) that exposes the parts of Envoy's OkHttpResponse that
// Oathkeeper's mutators cannot reach: request headers to strip before the
// request goes upstream (headers_to_remove), headers to add to the client
// response (response_headers_to_add), query parameters to set or remove
// (query_parameters_to_set/remove) and dynamic metadata for access logs,
// rate limits and RBAC.
//
// It only records intent in the Session (RemoveHeaders, ResponseHeader,
// SetQuery, RemoveQuery, Metadata); the front door turns that into wire
// fields. SetQuery values are stored percent-encoded, because Envoy splices
// query_parameters_to_set into :path as given: a rendered "a&admin=1" stays
// one value. Query parameter names are limited to RFC 3986 unreserved
// characters.
//
// Header names are checked when the rule loads (handlers/internal/
// headerpolicy): tokens only; pseudo-headers, host and the hop-by-hop and
// framing headers can be neither removed nor set, and response_headers may
// set an x-envoy-* header only if allow_envoy_headers lists it (removing
// one needs no listing: it only withholds information). Rendered values
// that contain a control character (CR, LF, NUL, DEL, ...) fail the
// request closed (C-05), as do values longer than max_value_bytes (default
// 8 KiB, C-15).
//
// The package owns that mutation only. It imports pipeline, pipeline/tmpl,
// handlers/internal/headerpolicy and the standard library (plus x/net's
// httpguts); it must not import authz, rulestore, envoy or another handler
// package.
package envoyresp
