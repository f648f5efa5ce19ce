package authz

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// DecisionsPath is the prefix of the HTTP decision API, as in Oathkeeper.
const DecisionsPath = "/decisions"

// DecisionsOptions configure the decision API.
type DecisionsOptions struct {
	// Forwarded says whose forwarded headers are believed, and which; nil
	// reads every forwarded header, from loopback peers only.
	Forwarded *ForwardedTrust
}

// Decisions serves the HTTP decision API for proxies that ask over plain
// HTTP: nginx auth_request, Traefik forwardAuth and Envoy's HTTP
// ext_authz mode. The request being judged is the call itself (method,
// Host, scheme, and the path and query after /decisions: Envoy's
// path_prefix mode) unless a trusted proxy states otherwise in the
// forwarded headers o.Forwarded reads, with Oathkeeper's precedence:
//
//   - method: X-Forwarded-Method or X-Original-Method;
//   - scheme: X-Forwarded-Proto (http, https; ws and wss as http, https);
//   - host: X-Forwarded-Host;
//   - path and query: X-Forwarded-Uri or X-Original-Uri.
//
// The call is denied with 400 (malformed_request) rather than judged when
// a read forwarded header comes from a peer that is not trusted, appears
// twice with different values or as a list, or when two sources state the
// same fact differently: X-Forwarded-Uri against X-Original-Uri or against
// a path after /decisions, X-Forwarded-Method against X-Original-Method,
// the last Forwarded element's host or proto against the host or scheme
// judged. Forwarded itself is never a source.
//
// Unlike Oathkeeper, the query of X-Forwarded-Uri is kept, and the path is
// passed on as received, to be normalised (and rejected when ambiguous)
// exactly as for gRPC checks.
//
// Allowed: 200 with the upstream headers; removals are listed in
// x-envoy-auth-headers-to-remove (Envoy's HTTP mode honours it). Denied:
// the error handler's status, headers and body.
func (c *Checker) Decisions(o DecisionsOptions) http.Handler {
	trust := o.Forwarded
	if trust == nil {
		trust = defaultForwardedTrust
	}
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		r, malformed := trust.decisionRequest(hr)
		d := c.final(hr.Context(), r, malformed)
		h := w.Header()
		if d.Allowed {
			if s := d.Session; s != nil {
				for k, vs := range s.Header {
					for _, v := range vs {
						h.Add(k, v)
					}
				}
				if len(s.RemoveHeaders) > 0 {
					h.Set("X-Envoy-Auth-Headers-To-Remove", strings.Join(s.RemoveHeaders, ", "))
				}
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		for k, vs := range d.Denial.Header {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		status := d.Denial.Status
		if status < 200 || status > 599 {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		_, _ = w.Write(d.Denial.Body)
	})
}

// decisionRequest rebuilds the request to judge from a decision call. On
// error the returned request is what was rebuilt so far, for the decision
// log.
func (t *ForwardedTrust) decisionRequest(hr *http.Request) (*pipeline.Request, error) {
	r := &pipeline.Request{
		ID:       hr.Header.Get("X-Request-Id"),
		Method:   hr.Method,
		Scheme:   "http",
		Host:     hr.Host,
		Protocol: hr.Proto,
		Header:   make(pipeline.Header, len(hr.Header)),
	}
	if hr.TLS != nil {
		r.Scheme = "https"
	}
	for k, vs := range hr.Header {
		r.Header[strings.ToLower(k)] = vs
	}
	if ap, err := netip.ParseAddrPort(hr.RemoteAddr); err == nil {
		r.Source.Address, r.Source.Port = ap.Addr().Unmap().String(), uint32(ap.Port())
	}

	// The call's request target exactly as received: re-escaping or
	// cutting it here would judge a path other than the one sent.
	target := hr.RequestURI
	if target == "" && hr.URL != nil { // called in-process, not by a server
		target = hr.URL.RequestURI()
	}
	callPath, _, _ := strings.Cut(target, "?")
	if callPath != DecisionsPath && !strings.HasPrefix(callPath, DecisionsPath+"/") {
		return r, fmt.Errorf("request target is not %s or below it", DecisionsPath)
	}
	suffix := target[len(DecisionsPath):]
	r.RawPath, r.RawQuery, _ = strings.Cut(suffix, "?")

	f, err := t.read(hr)
	if err != nil {
		return r, err
	}
	if f.method != "" {
		r.Method = f.method
	}
	schemeFrom := "the call's scheme"
	if f.scheme != "" {
		r.Scheme, schemeFrom = f.scheme, HeaderXForwardedProto
	}
	hostFrom := "Host"
	if f.host != "" {
		r.Host, hostFrom = f.host, HeaderXForwardedHost
	}
	if f.target != "" {
		// A path after /decisions (Envoy's path_prefix mode) states the
		// target too; a proxy that passes the client's X-Forwarded-Uri
		// through must not let it choose another.
		if r.RawPath != "" && suffix != f.target {
			return r, fmt.Errorf("%s and the path after %s state different request targets", f.targetFrom, DecisionsPath)
		}
		r.RawPath, r.RawQuery, _ = strings.Cut(f.target, "?")
	}
	if err := f.checkForwarded(r.Host, hostFrom, r.Scheme, schemeFrom); err != nil {
		return r, err
	}
	return r, nil
}
