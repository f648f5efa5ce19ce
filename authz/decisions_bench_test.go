package authz_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/portcullis-authz/portcullis/authz"
)

// BenchmarkDecisionsJWTHeader measures the HTTP decision API for the rule
// of BenchmarkCheckJWTHeaderExtra (jwt RS256, cached → allow → header
// with {{ print .Subject }} and {{ print .Extra.email }}): the handler's
// ServeHTTP from the parsed request to the written response, without a
// socket or net/http's server (cmd/portcullis-load compare measures
// those). path is Envoy's path_prefix mode (GET /decisions/orders/42, as
// portcullis-load sends it); forwarded is nginx auth_request (GET
// /decisions with X-Forwarded-* from a trusted loopback peer).
func BenchmarkDecisionsJWTHeader(b *testing.B) {
	c, req := benchJWTHeaderChecker(b)
	auth := req.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"]
	h := c.Decisions(authz.DecisionsOptions{})
	for _, bc := range []struct {
		name, target string
		header       http.Header
	}{
		{"path", "/decisions/orders/42", http.Header{}},
		{"forwarded", "/decisions", http.Header{
			"X-Forwarded-Method": {"GET"},
			"X-Forwarded-Proto":  {"https"},
			"X-Forwarded-Host":   {"api.test"},
			"X-Forwarded-Uri":    {"/orders/42"},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			hr := benchDecisionsRequest(bc.target, auth, bc.header)
			w := &benchResponseWriter{header: http.Header{}}
			serve := func() {
				clear(w.header)
				w.status = 0
				h.ServeHTTP(w, hr)
			}
			verify := func() {
				serve()
				if w.status != http.StatusOK || w.header.Get("X-User") != "alice" || w.header.Get("X-Email") != "alice@example.com" {
					b.Fatalf("status %d, headers %v", w.status, w.header)
				}
			}
			verify()
			b.ReportAllocs()
			for b.Loop() {
				serve()
			}
			verify()
		})
	}
}

// benchDecisionsRequest is a decision call as net/http's server hands it
// to the handler: from a loopback peer over HTTP/1.1 with the headers a
// proxy passes on, plus extra.
func benchDecisionsRequest(target, auth string, extra http.Header) *http.Request {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		panic(err)
	}
	h := http.Header{
		"Authorization": {auth},
		"User-Agent":    {"bench/1.0"},
		"Accept":        {"*/*"},
		"X-Request-Id":  {"5f0e6c8a-1b2d-4e3f-9a8b-7c6d5e4f3a2b"},
	}
	if len(extra) == 0 {
		h["X-Forwarded-Proto"] = []string{"https"}
	}
	for k, vs := range extra {
		h[k] = vs
	}
	return &http.Request{
		Method: "GET", URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: "api.test", RemoteAddr: "127.0.0.1:40000",
	}
}

// benchResponseWriter is a ResponseWriter that keeps the status and
// headers and discards the body, reused across iterations.
type benchResponseWriter struct {
	header http.Header
	status int
}

func (w *benchResponseWriter) Header() http.Header { return w.header }

func (w *benchResponseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *benchResponseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(p), nil
}
