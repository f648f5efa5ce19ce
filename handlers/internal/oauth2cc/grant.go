package oauth2cc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// StatusError is returned when the token endpoint answered with a status
// other than 2xx or 3xx (3xx gives outbound.ErrRedirect). Callers map the status (the client_credentials
// authenticator passes 429, 500, 503, 504 and 404 on and turns the rest
// into 401).
type StatusError struct {
	// StatusCode is the endpoint's status.
	StatusCode int
	// RateLimit holds Retry-After and X-Ratelimit-* of a 429 answer.
	RateLimit pipeline.Header
}

// Error implements error. It holds no response content.
func (e *StatusError) Error() string {
	return fmt.Sprintf("token endpoint answered status %d", e.StatusCode)
}

// maxExpiresIn caps a token's announced lifetime (one year, in seconds) so
// that an absurd expires_in cannot overflow a time.Duration.
const maxExpiresIn = 365 * 24 * 3600

// ErrNoAccessToken is returned for a 2xx answer without an access_token.
var ErrNoAccessToken = errors.New("token endpoint issued no access token")

// ErrInvalidResponse is wrapped for a 2xx answer that cannot be read.
var ErrInvalidResponse = errors.New("invalid token endpoint response")

// grant performs one client-credentials grant with retries. Transport
// errors, a refused redirect (outbound.ErrRedirect) and an oversized body
// (outbound.ErrBodyTooLarge) are returned as the outbound client reports
// them; their texts hold no credential, since the client authenticates in
// the header and outbound strips the query.
func (s *Source) grant(ctx context.Context, in *pipeline.Request, id, secret string) (Token, error) {
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}, "Authorization": {auth}}
	resp, err := s.ep.Post(ctx, in, h, []byte(s.form))
	if err != nil {
		return Token{}, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &StatusError{StatusCode: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests {
			e.RateLimit = remotecall.RateLimitHeader(resp.Header)
		}
		return Token{}, e
	}
	return parseToken(resp, s.now())
}

// parseToken reads a token response: JSON (RFC 6749 §5.1), or a form body
// when the endpoint says so, as some older servers (and x/oauth2) do.
func parseToken(resp *outbound.Response, now time.Time) (Token, error) {
	var t Token
	var expiresIn string
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, err := url.ParseQuery(string(resp.Body))
		if err != nil {
			return Token{}, fmt.Errorf("%w: malformed form body", ErrInvalidResponse)
		}
		t.AccessToken, t.TokenType, expiresIn = v.Get("access_token"), v.Get("token_type"), v.Get("expires_in")
	} else {
		if err := remotecall.CheckJSON(resp.Body); err != nil {
			return Token{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
		}
		// Members are looked up by exact name: encoding/json's
		// case-insensitive field matching would let "ACCESS_TOKEN" stand
		// in for access_token.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			return Token{}, fmt.Errorf("%w: not a JSON object", ErrInvalidResponse)
		}
		for name, dst := range map[string]*string{"access_token": &t.AccessToken, "token_type": &t.TokenType} {
			if v, ok := m[name]; ok && json.Unmarshal(v, dst) != nil {
				return Token{}, fmt.Errorf("%w: member %q is not a string", ErrInvalidResponse, name)
			}
		}
		// Some servers send expires_in as a string; accept both forms.
		if v, ok := m["expires_in"]; ok && string(v) != "null" {
			expiresIn = strings.Trim(string(v), `"`)
		}
	}
	if t.AccessToken == "" {
		return Token{}, ErrNoAccessToken
	}
	if expiresIn != "" {
		n, err := strconv.ParseFloat(expiresIn, 64)
		if err != nil || n < 0 || math.IsNaN(n) {
			return Token{}, fmt.Errorf("%w: expires_in is not a number of seconds", ErrInvalidResponse)
		}
		if n >= 1 {
			t.Expiry = now.Add(time.Duration(min(n, maxExpiresIn)) * time.Second)
		}
	}
	return t, nil
}
