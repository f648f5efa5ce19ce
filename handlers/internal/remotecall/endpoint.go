package remotecall

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Endpoint is a remote URL together with the client, the retry policy and
// the circuit breaker its calls use. It holds no per-request state; a
// handler builds it once, or per request when the URL depends on the
// request, and may use it concurrently.
type Endpoint struct {
	// Client sends every attempt.
	Client *outbound.Client
	// URL is where calls go; Post does not modify it.
	URL *url.URL
	// Retry bounds the attempts of one call.
	Retry Retry
	// Breaker guards every attempt (nil: none). It is the circuit of the
	// configured URL, which may differ from URL when a handler adds the
	// request's query to it.
	Breaker *breaker.Breaker
}

// Post sends body with header h as a POST to e.URL under e.Retry and
// e.Breaker and returns the fully read answer. in is the request being
// checked, whose trace headers are propagated; it may be nil.
//
// POST is retried like any other method: every call made with it is a
// lookup that changes nothing (introspection, authorization decision,
// hydration, token grant).
//
// Every attempt resends body and shares h, to which outbound may add the
// trace headers, so h must not be used concurrently with the call.
func (e *Endpoint) Post(ctx context.Context, in *pipeline.Request, h http.Header, body []byte) (*outbound.Response, error) {
	return e.Retry.DoWithBreaker(ctx, e.Breaker, func(ctx context.Context) (*outbound.Response, error) {
		u := *e.URL
		req := &http.Request{Method: http.MethodPost, URL: &u, Host: u.Host, Header: h, Body: http.NoBody,
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		if len(body) > 0 {
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.ContentLength = int64(len(body))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		return e.Client.Do(ctx, req, in)
	})
}
