package remotejson

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// reasonPrefix starts every reason ID of this handler.
const reasonPrefix = "remote_json"

// Authorizer POSTs a JSON payload rendered from the session to a remote
// service and lets its answer decide. It is immutable after New and safe
// for concurrent use.
type Authorizer struct {
	call         *remotecall.Endpoint
	payload      *tmpl.JSON
	headers      remotecall.HeaderTemplates
	forward      []string
	forwardIn    []string
	decisionPath string
}

// New compiles c (validating it first) into an Authorizer that sends its
// calls through client.
func New(c Config, client *outbound.Client) (pipeline.Authorizer, error) {
	if client == nil {
		return nil, errors.New("remote_json: outbound client is required")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	payload, err := tmpl.ParseJSON("payload", c.Payload)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	headers, err := remotecall.CompileHeaders(c.Headers)
	if err != nil {
		return nil, err
	}
	return &Authorizer{call: c.endpoint(client), payload: payload, headers: headers,
		forward: c.ForwardResponseHeadersToUpstream, forwardIn: c.ForwardHTTPHeaders, decisionPath: c.DecisionPath}, nil
}

// Authorize renders the payload and POSTs it, byte for byte as rendered,
// with the client headers the rule lists in forward_http_headers (none by
// default: credentials leave only where asked). A payload that is not one JSON text
// fails with 500 remote_json_payload_invalid; one whose structure a value
// changed (a member added, duplicated or swallowed, see tmpl.JSON) with
// 500 remote_json_template_output_invalid. Either way nothing is sent.
// Status mapping is the remote authorizer's; with decision_path a 200
// allows only if the path holds the boolean true.
func (a *Authorizer) Authorize(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	body, err := a.payload.Execute(s)
	switch {
	case errors.Is(err, tmpl.ErrOutputStructure):
		return pipeline.Internal(reasonPrefix+"_template_output_invalid",
			"the payload template rendered members that the template does not write", err)
	case err != nil:
		return pipeline.Internal(reasonPrefix+"_payload_invalid", "the payload template did not render a JSON text", err)
	}
	h := make(http.Header, 4+len(a.headers))
	h["Content-Type"] = []string{"application/json"}
	remotecall.CopyRequestHeaders(h, r, a.forwardIn)
	if err := a.headers.Render(h, s); err != nil {
		return pipeline.Internal(reasonPrefix+"_header_invalid", "a configured header could not be rendered", err)
	}
	resp, err := a.call.Post(ctx, r, h, body)
	if err != nil {
		return remotecall.AuthorizerCallError(reasonPrefix, err)
	}
	if resp.StatusCode != http.StatusOK {
		return remotecall.AuthorizerStatusError(reasonPrefix, resp)
	}
	if a.decisionPath != "" {
		if err := a.decide(resp.Body); err != nil {
			return err
		}
	}
	remotecall.ForwardHeaders(s, a.forward, resp.Header)
	return nil
}

// decide reads the decision from a 200 answer. A body that is not one
// duplicate-free JSON value is an unexpected answer (500); false, a missing
// path or any non-boolean (including the string "true") denies (403).
func (a *Authorizer) decide(body []byte) error {
	if err := remotecall.CheckJSON(body); err != nil {
		return pipeline.Internal(reasonPrefix+"_response_invalid", "the remote authorizer's answer is not valid JSON", err)
	}
	switch res := gjson.GetBytes(body, a.decisionPath); res.Type {
	case gjson.True:
		return nil
	case gjson.False:
		return pipeline.Forbidden(reasonPrefix+"_denied", "the remote authorizer denied the request", nil)
	default:
		e := pipeline.Forbidden(reasonPrefix+"_decision_invalid", "the remote authorizer's answer has no boolean decision", nil)
		e.Details = map[string]any{"decision_path": a.decisionPath}
		return e
	}
}

var _ pipeline.Authorizer = (*Authorizer)(nil)
