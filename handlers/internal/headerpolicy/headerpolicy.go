// Package headerpolicy decides which header names a mutator may set, for
// every mutator that names headers (header, envoy, id_token) and for the
// headers a hydrator answer brings. The checks run when a rule loads, so a
// rule that would hand Envoy a header it must not take is refused with the
// rule and the header named, instead of misbehaving per request.
//
// Refused: names that are not HTTP tokens, pseudo-headers (":path", ...),
// headers that describe a connection or frame a message (connection,
// keep-alive, proxy-connection, te, trailer, transfer-encoding, upgrade,
// content-length) and Envoy-internal headers (x-envoy-*) unless listed in
// allow_envoy_headers. Host gets its own error, ErrHost, because a caller
// may drop it with a warning (the header mutator, for Oathkeeper configs)
// instead of refusing it.
//
// It imports the standard library and x/net's httpguts only.
package headerpolicy

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// EnvoyPrefix starts the names of Envoy-internal headers. Envoy's router and
// filters act on them (x-envoy-original-path, x-envoy-upstream-rq-timeout-ms,
// x-envoy-retry-on, ...), and on a response a downstream Envoy does too
// (x-envoy-degraded, x-envoy-immediate-health-check-fail).
const EnvoyPrefix = "x-envoy-"

// ErrHost is the error of Check for the Host header. In ext_authz mode Envoy
// owns Host: it has already routed on it, and a route option, not the
// authorization service, rewrites it.
var ErrHost = errors.New(`header "host" cannot be set: Envoy owns it; rewrite it on the route with host_rewrite_literal or host_rewrite_header`)

// framing lists the headers that describe one connection or frame one
// message (RFC 9110 §7.6.1, RFC 9112 §6, RFC 9113 §8.2.2). Envoy writes them
// itself for each hop; a value from a rule would at best be ignored and at
// worst desynchronise Envoy and the upstream about where a request ends.
var framing = map[string]string{
	"connection":        "it is hop-by-hop",
	"keep-alive":        "it is hop-by-hop",
	"proxy-connection":  "it is hop-by-hop",
	"te":                "it is hop-by-hop",
	"trailer":           "it announces trailer fields, which the proxy owns",
	"transfer-encoding": "it frames the message body, which the proxy owns",
	"upgrade":           "it is hop-by-hop",
	"content-length":    "it frames the message body, which the proxy owns",
}

// Policy is the set of checks for one mutator config. The zero value allows
// no Envoy-internal header. A Policy is immutable.
type Policy struct {
	envoy map[string]bool // lower-case x-envoy-* names allowed by config
}

// New returns the policy that also allows the x-envoy-* names of
// allowEnvoy (the allow_envoy_headers key), compared case-insensitively.
// Each must be one exact x-envoy-* header name: there are no wildcards, so
// allowing one header Envoy acts on never allows the others. The error
// names the first bad entry by its index.
func New(allowEnvoy []string) (Policy, error) {
	if len(allowEnvoy) == 0 {
		return Policy{}, nil
	}
	p := Policy{envoy: make(map[string]bool, len(allowEnvoy))}
	for i, n := range allowEnvoy {
		l := strings.ToLower(n)
		if strings.Contains(n, "*") {
			return Policy{}, fmt.Errorf("allow_envoy_headers[%d]: %q: wildcards are not supported, list each x-envoy-* header by name", i, n)
		}
		if !httpguts.ValidHeaderFieldName(n) || !strings.HasPrefix(l, EnvoyPrefix) || len(l) == len(EnvoyPrefix) {
			return Policy{}, fmt.Errorf("allow_envoy_headers[%d]: %q is not an x-envoy-* header name", i, n)
		}
		p.envoy[l] = true
	}
	return p, nil
}

// Check reports why a mutator may not set the header name, or nil. The
// error names the header; for Host it is ErrHost.
func (p Policy) Check(name string) error {
	if err := check(name, "set"); err != nil {
		return err
	}
	if l := strings.ToLower(name); strings.HasPrefix(l, EnvoyPrefix) && !p.envoy[l] {
		return fmt.Errorf("header %q cannot be set: Envoy-internal headers (x-envoy-*) steer Envoy itself; list it in allow_envoy_headers if this is intended", name)
	}
	return nil
}

// CheckRemove reports why a mutator may not remove the header name before
// the request goes upstream, or nil. Removing an x-envoy-* header only
// withholds information, so it is allowed; pseudo-headers, Host and the
// framing headers are not (Envoy ignores or rejects such removals).
func CheckRemove(name string) error { return check(name, "removed") }

// check holds the refusals shared by setting and removing; verb is "set"
// or "removed".
func check(name, verb string) error {
	l := strings.ToLower(name)
	switch {
	case strings.HasPrefix(name, ":"):
		return fmt.Errorf("header %q cannot be %s: it is a pseudo-header, which Envoy derives from the request", name, verb)
	case !httpguts.ValidHeaderFieldName(name):
		return fmt.Errorf("invalid header name %q: want an HTTP token (letters, digits and !#$%%&'*+-.^_`|~)", name)
	case l == "host" && verb == "set":
		return ErrHost
	case l == "host":
		return fmt.Errorf("header %q cannot be %s: Envoy owns it", name, verb)
	}
	if why, ok := framing[l]; ok {
		return fmt.Errorf("header %q cannot be %s: %s", name, verb, why)
	}
	return nil
}
