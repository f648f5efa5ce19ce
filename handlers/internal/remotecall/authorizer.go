package remotecall

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// AuthorizerStatusError maps a remote authorizer's non-200 answer: 403
// denies, 429 is passed on with its rate-limit headers, anything else is
// an unexpected answer (500). Reason IDs start with prefix (the handler
// name, e.g. "remote_json"). The remote's body is never copied: it is not
// ours to show.
func AuthorizerStatusError(prefix string, resp *outbound.Response) *pipeline.Error {
	switch resp.StatusCode {
	case http.StatusForbidden:
		return pipeline.Forbidden(prefix+"_denied", "the remote authorizer denied the request", nil)
	case http.StatusTooManyRequests:
		return RateLimited(prefix+"_rate_limited", "the remote authorizer is rate limiting", resp)
	}
	e := pipeline.Internal(prefix+"_unexpected_status", fmt.Sprintf("expected status 200 but got %d", resp.StatusCode), nil)
	e.Details = map[string]any{"status": resp.StatusCode}
	return e
}

// AuthorizerCallError maps a remote authorizer's failed call. Transport
// failures and timeouts are 503: the authorizer is unavailable, so the
// request fails closed with a reason operators can alert on. Redirects and
// oversized bodies are answers we refuse to interpret, so they are 500.
func AuthorizerCallError(prefix string, err error) *pipeline.Error {
	switch {
	case errors.Is(err, outbound.ErrRedirect):
		return pipeline.Internal(prefix+"_unexpected_status", "the remote authorizer answered with a redirect", err)
	case errors.Is(err, outbound.ErrBodyTooLarge):
		return pipeline.Internal(prefix+"_response_too_large", "the remote authorizer's answer exceeds the size limit", err)
	case outbound.IsTimeout(err):
		return pipeline.Unavailable(prefix+"_unavailable", "the remote authorizer timed out", err)
	}
	return pipeline.Unavailable(prefix+"_unavailable", "the remote authorizer is unreachable", err)
}
