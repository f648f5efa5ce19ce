package clientcredentials

import (
	"errors"
	"net/http"

	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Reason ids.
const (
	IDMalformed          = "client_credentials_malformed"
	IDInvalid            = "client_credentials_invalid"
	IDNoToken            = "client_credentials_no_token"
	IDRateLimited        = "client_credentials_rate_limited"
	IDEndpointError      = "token_endpoint_error"
	IDEndpointNotFound   = "token_endpoint_not_found"
	IDEndpointDown       = "token_endpoint_unavailable"
	IDEndpointGateway    = "token_endpoint_gateway_timeout"
	IDEndpointTimeout    = "token_endpoint_timeout"
	IDEndpointUnreached  = "token_endpoint_unreachable"
	IDEndpointRedirect   = "token_endpoint_redirect"
	IDEndpointBadAnswer  = "token_endpoint_response_invalid"
	msgEndpointUnhealthy = "the token endpoint is not available"
)

// mapError applies Oathkeeper's token-endpoint table: 429, 503, 500, 504
// and 404 are passed on, any other status is 401 (the credentials were
// refused), and a call that could not complete is 503. A refused redirect
// counts as "any other status". An answer without access_token is 401; an
// unreadable answer is 503, as x/oauth2's parse error was in Oathkeeper.
func mapError(err error) error {
	var se *oauth2cc.StatusError
	switch {
	case errors.As(err, &se):
		switch se.StatusCode {
		case http.StatusTooManyRequests:
			e := pipeline.NewError(http.StatusTooManyRequests, IDRateLimited, "the token endpoint is rate limiting requests", err)
			e.Header = se.RateLimit
			return e
		case http.StatusServiceUnavailable:
			return pipeline.Unavailable(IDEndpointDown, msgEndpointUnhealthy, err)
		case http.StatusInternalServerError:
			return pipeline.Internal(IDEndpointError, "the token endpoint failed", err)
		case http.StatusGatewayTimeout:
			return pipeline.NewError(http.StatusGatewayTimeout, IDEndpointGateway, "the token endpoint timed out", err)
		case http.StatusNotFound:
			return pipeline.NewError(http.StatusNotFound, IDEndpointNotFound, "the token endpoint was not found", err)
		}
		return pipeline.Unauthorized(IDInvalid, "the client credentials were refused", err)
	case errors.Is(err, outbound.ErrRedirect):
		return pipeline.Unauthorized(IDEndpointRedirect, "the token endpoint answered with a redirect", err)
	case errors.Is(err, oauth2cc.ErrNoAccessToken):
		return pipeline.Unauthorized(IDNoToken, "the token endpoint issued no access token", err)
	case errors.Is(err, oauth2cc.ErrInvalidResponse), errors.Is(err, outbound.ErrBodyTooLarge):
		return pipeline.Unavailable(IDEndpointBadAnswer, "the token endpoint answer is malformed", err)
	case outbound.IsTimeout(err):
		return pipeline.Unavailable(IDEndpointTimeout, "the token endpoint did not answer in time", err)
	}
	return pipeline.Unavailable(IDEndpointUnreached, msgEndpointUnhealthy, err)
}
