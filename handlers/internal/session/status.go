package session

import (
	"errors"
	"net/http"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Reason ids of session-store failures.
const (
	IDRateLimited   = "session_store_rate_limited"
	IDRejected      = "session_rejected"
	IDRedirect      = "session_store_redirect"
	IDUnreachable   = "session_store_unreachable"
	IDTimeout       = "session_store_timeout"
	IDCircuitOpen   = "session_store_circuit_open"
	IDTooLarge      = "session_response_too_large"
	IDInvalidJSON   = "session_response_invalid"
	IDBadSubject    = "session_subject_invalid"
	IDBadExtra      = "session_extra_invalid"
	rateLimitReason = "the session store is rate limiting requests"
)

// statusError maps a session-store answer as Oathkeeper does: 200 is read,
// 429 is passed on with its rate-limit headers, anything else is 401.
func statusError(resp *outbound.Response) error {
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusTooManyRequests:
		return remotecall.RateLimited(IDRateLimited, rateLimitReason, resp)
	}
	return pipeline.Unauthorized(IDRejected, "the session store did not accept the session", nil)
}

// transportError maps a failed call. Oathkeeper answers 403 for any
// transport error; Portcullis keeps that status (so error handlers keyed on
// "forbidden" behave the same) but tells a timeout from other failures by
// id. A refused redirect counts as a rejection (401), like any status
// other than 200, and an oversized answer is a 500 as an unreadable body is
// in Oathkeeper. A call refused by the open circuit breaker was never sent:
// it is a 503 (session_store_circuit_open), whose cause names only the
// configured URL without its query.
//
// The cause keeps only what outbound wrapped, without the method and URL:
// with preserve_path: false the URL path is the request's, which may carry a
// credential (/reset/<token>, SECURITY F-10). No header value is included.
func transportError(err error) error {
	cause := errors.Unwrap(err)
	if cause == nil {
		cause = err
	}
	switch {
	case errors.Is(err, outbound.ErrRedirect):
		return pipeline.Unauthorized(IDRedirect, "the session store answered with a redirect", cause)
	case errors.Is(err, outbound.ErrBodyTooLarge):
		return pipeline.Internal(IDTooLarge, "the session store answer is too large", cause)
	case errors.Is(err, outbound.ErrCircuitOpen):
		return remotecall.CircuitOpenError(IDCircuitOpen, "the session store", err)
	case outbound.IsTimeout(err):
		return pipeline.Forbidden(IDTimeout, "the session store did not answer in time", cause)
	}
	return pipeline.Forbidden(IDUnreachable, "the session store could not be reached", cause)
}
