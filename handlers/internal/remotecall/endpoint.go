package remotecall

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Endpoint is a remote URL together with the client and the retry policy
// its calls use. It holds no per-request state; a handler builds it once,
// or per request when the URL depends on the request, and may use it
// concurrently.
type Endpoint struct {
	// Client sends every attempt.
	Client *outbound.Client
	// URL is where calls go; Post does not modify it.
	URL *url.URL
	// Retry bounds the attempts of one call.
	Retry Retry
}

// Post sends body with header h as a POST to e.URL under e.Retry and
// returns the fully read answer. in is the request being checked, whose
// trace headers are propagated; it may be nil.
//
// Every attempt resends body and shares h, to which outbound may add the
// trace headers, so h must not be used concurrently with the call.
func (e *Endpoint) Post(ctx context.Context, in *pipeline.Request, h http.Header, body []byte) (*outbound.Response, error) {
	return e.Retry.Do(ctx, func(ctx context.Context) (*outbound.Response, error) {
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
