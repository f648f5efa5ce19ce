package keto

// This file is kept identical (bar the package clause) in remote, remotejson
// and keto: they may not import each other, and the shared home for it,
// handlers/internal, is owned elsewhere. Change all three together.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

const (
	// maxAttempts caps tries per decision (Oathkeeper's retryablehttp: one
	// try plus four retries); the give_up_after budget usually ends sooner.
	maxAttempts = 5
	// baseDelay is the first backoff; it doubles per retry up to max_delay.
	baseDelay = 10 * time.Millisecond
)

// caller sends one decision request: one attempt bounded by timeout, or,
// with a retry budget, up to maxAttempts within budget. It holds no
// per-request state and is safe for concurrent use.
type caller struct {
	client   *outbound.Client
	url      *url.URL
	timeout  time.Duration // per attempt
	budget   time.Duration // all attempts; 0 disables retries
	maxDelay time.Duration
}

// do POSTs body with header h. Only connection errors and 5xx answers
// (except 501) are retried: a 403 or 429 is an answer, and a redirect or an
// oversized body will not improve on a second try. h is reused across
// attempts and must not be modified concurrently.
func (c *caller) do(ctx context.Context, in *pipeline.Request, h http.Header, body []byte) (*outbound.Response, error) {
	attempts := 1
	if c.budget > 0 {
		attempts = maxAttempts
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.budget)
		defer cancel()
	}
	for i := 0; ; i++ {
		resp, err := c.once(ctx, in, h, body)
		if i == attempts-1 || ctx.Err() != nil || !retryable(resp, err) || !c.backoff(ctx, i) {
			return resp, err
		}
	}
}

func (c *caller) once(ctx context.Context, in *pipeline.Request, h http.Header, body []byte) (*outbound.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := *c.url
	req := &http.Request{Method: http.MethodPost, URL: &u, Host: u.Host, Header: h, Body: http.NoBody}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return c.client.Do(ctx, req, in)
}

func retryable(resp *outbound.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, outbound.ErrBodyTooLarge) && !errors.Is(err, outbound.ErrRedirect)
	}
	return resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented
}

// backoff waits before retry attempt+1 with jittered exponential delay. It
// reports false, without waiting, when the wait would outlast the budget.
func (c *caller) backoff(ctx context.Context, attempt int) bool {
	d := min(baseDelay<<attempt, c.maxDelay)
	d = d/2 + rand.N(d/2+1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// rateLimitHeaders are copied from a 429 answer to the client response, so
// callers learn when to come back (Oathkeeper propagates them too).
var rateLimitHeaders = [...]string{
	"Retry-After", "RateLimit", "RateLimit-Policy", "RateLimit-Limit", "RateLimit-Remaining",
	"RateLimit-Reset", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
}

// statusError maps a non-200 answer: 403 denies, 429 is passed on with its
// rate-limit headers, anything else is an unexpected answer (500). The
// remote's body is never copied: it is not ours to show.
func statusError(prefix string, resp *outbound.Response) *pipeline.Error {
	switch resp.StatusCode {
	case http.StatusForbidden:
		return pipeline.Forbidden(prefix+"_denied", "the remote authorizer denied the request", nil)
	case http.StatusTooManyRequests:
		e := pipeline.NewError(http.StatusTooManyRequests, prefix+"_rate_limited", "the remote authorizer is rate limiting", nil)
		for _, k := range rateLimitHeaders {
			if v := resp.Header.Get(k); v != "" {
				if e.Header == nil {
					e.Header = pipeline.Header{}
				}
				e.Header.Set(k, v)
			}
		}
		return e
	}
	e := pipeline.Internal(prefix+"_unexpected_status", fmt.Sprintf("expected status 200 but got %d", resp.StatusCode), nil)
	e.Details = map[string]any{"status": resp.StatusCode}
	return e
}

// callError maps a failed call. Transport failures and timeouts are 503:
// the authorizer is unavailable, so the request fails closed with a reason
// operators can alert on. Redirects and oversized bodies are answers we
// refuse to interpret, so they are 500.
func callError(prefix string, err error) *pipeline.Error {
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

// parseEndpoint checks a configured endpoint URL. It is never a template:
// a URL assembled from request data is an SSRF vector (SECURITY_CASES
// D-01), so "{{" is rejected outright rather than sent literally.
func parseEndpoint(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required")
	}
	if strings.Contains(raw, "{{") {
		return nil, errors.New("templates are not allowed in the URL; send request data in headers or the body")
	}
	// The URL may carry user info, so messages name the problem, not it.
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, errors.New("invalid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("unsupported scheme %q (want http or https)", u.Scheme)
	case u.Hostname() == "":
		return nil, errors.New("missing host")
	case strings.Contains(raw, "#"):
		return nil, errors.New("fragment not allowed")
	}
	return u, nil
}
