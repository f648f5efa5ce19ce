package keto

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tidwall/gjson"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// reasonPrefix starts every reason ID of this handler.
const reasonPrefix = "keto"

// Authorizer asks a legacy ORY Keto (≤0.5) ACP engine whether the subject
// may perform the action on the resource. It is immutable after New and
// safe for concurrent use.
type Authorizer struct {
	call     *remotecall.Endpoint
	action   *tmpl.Template
	resource *tmpl.Template
	subject  *tmpl.Template // nil: the session subject
	now      func() time.Time
}

// New compiles c (validating it first) into an Authorizer that sends its
// calls through client.
func New(c Config, client *outbound.Client) (pipeline.Authorizer, error) {
	if client == nil {
		return nil, errors.New("keto_engine_acp_ory: outbound client is required")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	a := &Authorizer{call: c.endpoint(client), now: time.Now}
	var err error
	for _, f := range []struct {
		key, text string
		dst       **tmpl.Template
	}{
		{"required_action", c.RequiredAction, &a.action},
		{"required_resource", c.RequiredResource, &a.resource},
		{"subject", c.Subject, &a.subject},
	} {
		if f.text == "" {
			continue
		}
		if *f.dst, err = tmpl.Parse(f.key, f.text); err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	return a, nil
}

// allowedRequest is the body of POST .../engines/acp/ory/{flavor}/allowed.
type allowedRequest struct {
	Action   string         `json:"action"`
	Resource string         `json:"resource"`
	Subject  string         `json:"subject"`
	Context  allowedContext `json:"context"`
}

type allowedContext struct {
	RemoteIPAddress string    `json:"remoteIpAddress"`
	RequestedAt     time.Time `json:"requestedAt"`
}

// Authorize renders action, resource and subject and asks Keto. 200 with
// {"allowed": true} allows; {"allowed": false} and 403 deny; 429 is passed
// on; anything else is a 500 and a failed call a 503.
//
// remoteIpAddress is the address the proxy saw (Request.Source), not
// X-Forwarded-For, which Oathkeeper trusted and any client can set.
func (a *Authorizer) Authorize(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	body := allowedRequest{Subject: s.Subject,
		Context: allowedContext{RemoteIPAddress: r.Source.Address, RequestedAt: a.now().UTC()}}
	var err error
	if body.Action, err = a.action.Execute(s); err == nil {
		if body.Resource, err = a.resource.Execute(s); err == nil && a.subject != nil {
			body.Subject, err = a.subject.Execute(s)
		}
	}
	if err != nil {
		return pipeline.Internal(reasonPrefix+"_template_failed", "a keto template could not be rendered", err)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return pipeline.Internal(reasonPrefix+"_template_failed", "the keto request could not be encoded", err)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	resp, err := a.call.Post(ctx, r, h, b)
	if err != nil {
		return remotecall.AuthorizerCallError(reasonPrefix, err)
	}
	if resp.StatusCode != http.StatusOK {
		return remotecall.AuthorizerStatusError(reasonPrefix, resp)
	}
	if err := remotecall.CheckJSON(resp.Body); err != nil {
		return pipeline.Internal(reasonPrefix+"_response_invalid", "keto's answer is not valid JSON", err)
	}
	switch gjson.GetBytes(resp.Body, "allowed").Type {
	case gjson.True:
		return nil
	case gjson.False:
		return pipeline.Forbidden(reasonPrefix+"_denied", "keto denied the request", nil)
	}
	return pipeline.Forbidden(reasonPrefix+"_decision_invalid", "keto's answer has no boolean allowed", nil)
}

var _ pipeline.Authorizer = (*Authorizer)(nil)
