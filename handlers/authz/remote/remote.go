package remote

import (
	"context"
	"errors"
	"net/http"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// reasonPrefix starts every reason ID of this handler.
const reasonPrefix = "remote"

// Authorizer asks a remote service whether the request may proceed by
// POSTing it the original request body. It is immutable after New and
// safe for concurrent use.
type Authorizer struct {
	call      *remotecall.Endpoint
	headers   remotecall.HeaderTemplates
	forwardIn []string // client request headers sent to the remote
	forward   []string // remote response headers set upstream
}

// New compiles c (validating it first) into an Authorizer that sends its
// calls through client.
func New(c Config, client *outbound.Client) (pipeline.Authorizer, error) {
	if client == nil {
		return nil, errors.New("remote: outbound client is required")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	headers, err := remotecall.CompileHeaders(c.Headers)
	if err != nil {
		return nil, err
	}
	return &Authorizer{call: c.endpoint(client), headers: headers, forwardIn: c.ForwardHTTPHeaders,
		forward: c.ForwardResponseHeadersToUpstream}, nil
}

// Authorize POSTs the original body and its Content-Type, the client
// headers named in forward_http_headers and the rendered headers. 200
// allows (and forwards the configured response headers); 403 denies; 429 is
// passed on; any other answer is a 500 and a failed or timed-out call a
// 503, so the request never proceeds on doubt. A body Envoy marked as cut
// short (x-envoy-auth-partial-body) is a 413 before any call.
func (a *Authorizer) Authorize(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	if remotecall.BodyPartial(r) {
		return remotecall.PartialBodyError(reasonPrefix)
	}
	h := make(http.Header, 4+len(a.forwardIn)+len(a.headers))
	remotecall.CopyRequestHeaders(h, r, a.forwardIn)
	if v := r.Header.Get("content-type"); v != "" {
		h["Content-Type"] = []string{v}
	}
	if err := a.headers.Render(h, s); err != nil {
		return pipeline.Internal(reasonPrefix+"_header_invalid", "a configured header could not be rendered", err)
	}
	resp, err := a.call.Post(ctx, r, h, r.Body)
	if err != nil {
		return remotecall.AuthorizerCallError(reasonPrefix, err)
	}
	if resp.StatusCode != http.StatusOK {
		return remotecall.AuthorizerStatusError(reasonPrefix, resp)
	}
	remotecall.ForwardHeaders(s, a.forward, resp.Header)
	return nil
}

var _ pipeline.Authorizer = (*Authorizer)(nil)
