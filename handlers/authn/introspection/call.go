package introspection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Reason ids of call failures.
const (
	IDRateLimited        = "introspection_rate_limited"
	IDFailed             = "introspection_failed"
	IDClientUnauthorized = "introspection_client_unauthorized"
	IDUnavailable        = "introspection_unavailable"
	IDTimeout            = "introspection_timeout"
	IDCircuitOpen        = "introspection_circuit_open"
	IDInvalid            = "introspection_response_invalid"
	IDRedirect           = "introspection_redirect_refused"
	IDPreAuthRateLimited = "introspection_preauthorization_rate_limited"
	IDPreAuthFailed      = "introspection_preauthorization_failed"
	IDPreAuthUnavailable = "introspection_preauthorization_unavailable"
)

// introspect calls the endpoint, with retries within the retry budget, and
// parses a 200 answer. Status mapping as Oathkeeper: 429 is passed on with
// its rate-limit headers, any other non-200 is a 500. The endpoint refusing
// this service's own credentials (401, 403, or 400 invalid_client: RFC
// 7662 §2.3, RFC 6749 §5.2) is a 500 too, but with its own reason, since
// the operator, not the client, has to act. A call that cannot be completed
// (endpoint down, deadline) is a 503, which Oathkeeper reported as a 500.
func (a *Authenticator) introspect(ctx context.Context, r *pipeline.Request, tok string) (*result, error) {
	auth, err := a.bearer(ctx, r)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, len(a.headers)+4)
	for _, kv := range a.headers {
		h.Set(kv[0], kv[1])
	}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	if h.Get("Accept") == "" {
		h.Set("Accept", "application/json")
	}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	if a.preserveHost {
		h.Set("X-Forwarded-Host", r.Host)
	}
	resp, err := a.endpoint.Post(ctx, r, h, []byte(a.form(tok)))
	switch {
	case errors.Is(err, outbound.ErrRedirect):
		return nil, pipeline.Internal(IDRedirect, "the introspection endpoint answered with a redirect", err)
	case errors.Is(err, outbound.ErrBodyTooLarge):
		return nil, pipeline.Internal(IDInvalid, "the introspection answer is too large", err)
	case errors.Is(err, outbound.ErrCircuitOpen):
		return nil, remotecall.CircuitOpenError(IDCircuitOpen, "the introspection endpoint", err)
	case err != nil && outbound.IsTimeout(err):
		return nil, pipeline.Unavailable(IDTimeout, "the introspection endpoint did not answer in time", err)
	case err != nil:
		return nil, pipeline.Unavailable(IDUnavailable, "the introspection endpoint could not be reached", err)
	case resp.StatusCode == http.StatusTooManyRequests:
		return nil, remotecall.RateLimited(IDRateLimited, "the introspection endpoint is rate limiting requests", resp)
	case clientRefused(resp):
		if a.preauth != nil {
			// The endpoint may have revoked the pre-authorization token;
			// the next call gets a fresh one.
			a.preauth.Forget(a.preID, a.preSecret)
		}
		return nil, pipeline.Internal(IDClientUnauthorized,
			fmt.Sprintf("the introspection endpoint refused this service's client credentials (status %d); check introspection_request_headers or pre_authorization", resp.StatusCode), nil)
	case resp.StatusCode != http.StatusOK:
		return nil, pipeline.Internal(IDFailed, fmt.Sprintf("the introspection endpoint answered status %d", resp.StatusCode), nil)
	}
	res, err := parse(resp.Body)
	if err != nil {
		return nil, pipeline.Internal(IDInvalid, "the introspection answer is malformed", err)
	}
	return res, nil
}

// callError maps the failure of a coalesced call: introspect's own
// errors pass, and a caller that stopped waiting (its context ended) is a
// timeout or an unavailable endpoint, as if its own call had been cut.
func callError(err error) error {
	var pe *pipeline.Error
	switch {
	case errors.As(err, &pe):
		return err
	case outbound.IsTimeout(err):
		return pipeline.Unavailable(IDTimeout, "the introspection endpoint did not answer in time", err)
	}
	return pipeline.Unavailable(IDUnavailable, "the introspection endpoint could not be reached", err)
}

// clientRefused reports whether an answer refuses the caller rather than
// the token: 401 or 403, or 400 with the OAuth 2.0 error invalid_client.
// (An unknown or revoked token is a 200 with active false.)
func clientRefused(resp *outbound.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusBadRequest:
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(resp.Body, &e) == nil && e.Error == "invalid_client"
	}
	return false
}

// form returns the introspection request body.
func (a *Authenticator) form(tok string) string {
	v := url.Values{"token": {tok}}
	if a.scopeParam != "" {
		v.Set("scope", a.scopeParam)
	}
	return v.Encode()
}

// bearer returns the Authorization value from pre_authorization, or "".
func (a *Authenticator) bearer(ctx context.Context, r *pipeline.Request) (string, error) {
	if a.preauth == nil {
		return "", nil
	}
	t, err := a.preauth.Token(ctx, r, a.preID, a.preSecret)
	var se *oauth2cc.StatusError
	switch {
	case err == nil:
		typ := "Bearer"
		if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
			typ = t.TokenType
		}
		return typ + " " + t.AccessToken, nil
	case errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests:
		e := pipeline.NewError(http.StatusTooManyRequests, IDPreAuthRateLimited, "the pre-authorization token endpoint is rate limiting requests", err)
		e.Header = se.RateLimit
		return "", e
	case errors.As(err, &se) && se.StatusCode >= 500:
		return "", pipeline.Unavailable(IDPreAuthUnavailable, "the pre-authorization token endpoint failed", err)
	case errors.As(err, &se), errors.Is(err, oauth2cc.ErrNoAccessToken), errors.Is(err, outbound.ErrRedirect):
		return "", pipeline.Internal(IDPreAuthFailed, "the pre-authorization grant was refused", err)
	}
	return "", pipeline.Unavailable(IDPreAuthUnavailable, "no pre-authorization token could be obtained", err)
}
