package authz

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// DecisionsPath is the prefix of the HTTP decision API, as in Oathkeeper.
const DecisionsPath = "/decisions"

// Decisions serves the HTTP decision API for proxies that ask over plain
// HTTP: nginx auth_request, Traefik forwardAuth and Envoy's HTTP
// ext_authz mode. The request being judged is rebuilt from the call:
//
//   - method: X-Forwarded-Method, else the call's method;
//   - scheme: X-Forwarded-Proto (http or https), else the call's;
//   - host: X-Forwarded-Host, else the call's Host;
//   - path and query: X-Forwarded-Uri (or X-Original-Uri, nginx's usual
//     name), else the call's path with the /decisions prefix removed
//     (Envoy's path_prefix mode) and its query.
//
// Unlike Oathkeeper, the query of X-Forwarded-Uri is kept, and the path is
// normalised (and rejected when ambiguous) exactly as for gRPC checks.
// The forwarded headers are trusted: the API must only be reachable by the
// proxy, which must set (not append) them.
//
// Allowed: 200 with the upstream headers; removals are listed in
// x-envoy-auth-headers-to-remove (Envoy's HTTP mode honours it). Denied:
// the error handler's status, headers and body.
func (c *Checker) Decisions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		r := decisionRequest(hr)
		d := c.final(hr.Context(), r, nil)
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

func decisionRequest(hr *http.Request) *pipeline.Request {
	r := &pipeline.Request{
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
	if m := hr.Header.Get("X-Forwarded-Method"); m != "" {
		r.Method = m
	}
	switch p := strings.ToLower(hr.Header.Get("X-Forwarded-Proto")); p {
	case "http", "https":
		r.Scheme = p
	}
	if h := hr.Header.Get("X-Forwarded-Host"); h != "" {
		r.Host = h
	}
	uri := hr.Header.Get("X-Forwarded-Uri")
	if uri == "" {
		uri = hr.Header.Get("X-Original-Uri")
	}
	if uri != "" {
		r.RawPath, r.RawQuery = pipeline.SplitPathQuery(uri)
	} else {
		r.RawPath = strings.TrimPrefix(hr.URL.EscapedPath(), DecisionsPath)
		r.RawQuery = hr.URL.RawQuery
	}
	r.ID = hr.Header.Get("X-Request-Id")
	if ap, err := netip.ParseAddrPort(hr.RemoteAddr); err == nil {
		r.Source.Address, r.Source.Port = ap.Addr().Unmap().String(), uint32(ap.Port())
	}
	return r
}
