package remotecall

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// CheckRequestHeaderNames validates a forward_http_headers list, the
// client request headers a remote authorizer sends on, and returns their
// canonical names. Oathkeeper sent the client's Authorization to every
// remote authorizer; here a client credential leaves the gateway only for
// an authorizer whose rule names it (issue #8). Host, Content-Length and
// the hop-by-hop headers describe the client's own message and are
// refused.
func CheckRequestHeaderNames(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		c := http.CanonicalHeaderKey(n)
		switch {
		case !httpguts.ValidHeaderFieldName(n):
			return nil, fmt.Errorf("forward_http_headers[%d]: invalid header name %q", i, n)
		case ReservedHeader(n):
			return nil, fmt.Errorf("forward_http_headers[%d]: header %q may not be forwarded", i, c)
		case seen[c]:
			return nil, fmt.Errorf("forward_http_headers[%d]: duplicate header %q", i, c)
		}
		seen[c] = true
		out = append(out, c)
	}
	return out, nil
}

// CopyRequestHeaders sets on dst every value of the named headers of the
// checked request r. names are canonical (CheckRequestHeaderNames).
func CopyRequestHeaders(dst http.Header, r *pipeline.Request, names []string) {
	for _, n := range names {
		if v := r.Header.Values(n); len(v) > 0 {
			dst[n] = append([]string(nil), v...)
		}
	}
}

// PartialBodyHeader is the request header Envoy adds to a check when
// with_request_body is on: "true" when allow_partial_message let it send
// only the first max_request_bytes of a longer body, "false" otherwise.
// Envoy drops a copy sent by the client.
const PartialBodyHeader = "x-envoy-auth-partial-body"

// BodyPartial reports whether Envoy marked r's body as cut short. Any value
// but "false" counts, so a value this code does not know (or a merged
// "false,true") fails closed.
func BodyPartial(r *pipeline.Request) bool {
	for _, v := range r.Header.Values(PartialBodyHeader) {
		if !strings.EqualFold(strings.TrimSpace(v), "false") {
			return true
		}
	}
	return false
}

// PartialBodyError denies a request whose body an authorizer would judge
// but Envoy sent only in part (BodyPartial): 413, reason
// <prefix>_body_partial. A decision on the first bytes of a body says
// nothing about the rest, so the part is never sent as if it were whole.
func PartialBodyError(prefix string) *pipeline.Error {
	return pipeline.NewError(http.StatusRequestEntityTooLarge, prefix+"_body_partial",
		"the proxy sent only part of the request body (x-envoy-auth-partial-body); raise with_request_body.max_request_bytes or turn allow_partial_message off", nil)
}

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
// request fails closed with a reason operators can alert on; a call its
// open circuit breaker refused is a 503 with reason <prefix>_circuit_open.
// Redirects and oversized bodies are answers we refuse to interpret, so
// they are 500.
func AuthorizerCallError(prefix string, err error) *pipeline.Error {
	switch {
	case errors.Is(err, outbound.ErrCircuitOpen):
		return CircuitOpenError(prefix+"_circuit_open", "the remote authorizer", err)
	case errors.Is(err, outbound.ErrRedirect):
		return pipeline.Internal(prefix+"_unexpected_status", "the remote authorizer answered with a redirect", err)
	case errors.Is(err, outbound.ErrBodyTooLarge):
		return pipeline.Internal(prefix+"_response_too_large", "the remote authorizer's answer exceeds the size limit", err)
	case outbound.IsTimeout(err):
		return pipeline.Unavailable(prefix+"_unavailable", "the remote authorizer timed out", err)
	}
	return pipeline.Unavailable(prefix+"_unavailable", "the remote authorizer is unreachable", err)
}
