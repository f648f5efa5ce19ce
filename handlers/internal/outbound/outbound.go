// Package outbound is the one HTTP client every handler uses for remote
// calls (JWKS, introspection, session checks, remote authorizers, hydrators,
// token endpoints). It enforces what Oathkeeper left to chance: a timeout on
// every call, a cap on every response body, no redirects followed, W3C trace
// context propagated, and error texts that carry no query string (which may
// hold a credential).
package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Defaults for Options.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxBodyBytes = 1 << 20
)

// ErrBodyTooLarge is returned when a response body exceeds the limit.
var ErrBodyTooLarge = errors.New("response body too large")

// ErrRedirect is wrapped by errors for 3xx answers: redirects are never
// followed, because a redirect could send a credential to another host.
var ErrRedirect = errors.New("redirect refused")

// ErrCircuitOpen is wrapped by the error of a call refused because the
// endpoint's circuit breaker is open: it failed repeatedly just before, so
// the call was not sent.
var ErrCircuitOpen = breaker.ErrOpen

// Options configure a Client.
type Options struct {
	// Timeout bounds a whole call, body included (default 5s). Handlers may
	// set a shorter deadline on the context.
	Timeout time.Duration
	// MaxBodyBytes caps response bodies (default 1 MiB).
	MaxBodyBytes int64
	// Transport overrides the default transport (tests).
	Transport http.RoundTripper
	// Breakers holds the circuit breakers of the client's endpoints
	// (default: a new registry on the system clock). Tests inject one with
	// a fake clock.
	Breakers *breaker.Registry
}

// Client sends handler calls. It is safe for concurrent use.
type Client struct {
	hc        *http.Client
	maxBody   int64
	breakers  *breaker.Registry
	observers atomic.Pointer[[]CallObserver]
}

// CallObserver is told about every call a Client sends (metrics,
// tracing). It must be cheap and safe for concurrent use.
type CallObserver interface {
	// StartCall is called before req is sent. It returns the context the
	// call is sent with (a child span, say, or ctx itself) and a function
	// called once when the call is over, with the response status (0 when
	// none was read) and the call's error. It may set headers on req.
	StartCall(ctx context.Context, req *http.Request) (context.Context, func(status int, err error))
}

// Observe adds o to the observers of every later call. Observers are
// added while the process starts, before handlers send calls.
func (c *Client) Observe(o CallObserver) {
	if o == nil {
		return
	}
	for {
		old := c.observers.Load()
		var next []CallObserver
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, o)
		if c.observers.CompareAndSwap(old, &next) {
			return
		}
	}
}

// New returns a Client.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Breakers == nil {
		o.Breakers = breaker.NewRegistry(breaker.Options{})
	}
	rt := o.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   3 * time.Second,
			ResponseHeaderTimeout: o.Timeout,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	return &Client{
		hc: &http.Client{
			Transport: rt,
			Timeout:   o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		maxBody:  o.MaxBodyBytes,
		breakers: o.Breakers,
	}
}

// Breaker returns the circuit breaker for calls to the configured endpoint
// u with the caller's settings. Every handler that calls the same URL
// through this client, in any rule and across reloads, shares its circuit;
// two URLs on one host do not (they are often different services behind
// one gateway).
func (c *Client) Breaker(u *url.URL, s breaker.Settings) *breaker.Breaker {
	return c.breakers.Get(u, s)
}

// BreakerStates returns the state of every endpoint's circuit breaker,
// for metrics and readiness.
func (c *Client) BreakerStates() []breaker.Status { return c.breakers.States() }

// Response is a fully read response.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends req and reads the whole body (at most the configured limit).
// When ctx carries the check's span (tracing on), the call gets a child
// span and sends its trace context; otherwise, when in is not nil, its
// traceparent and tracestate headers are copied so remote calls still
// join the caller's trace. A 3xx answer is returned as an
// error wrapping ErrRedirect.
func (c *Client) Do(ctx context.Context, req *http.Request, in *pipeline.Request) (resp *Response, err error) {
	if traced(ctx) {
		var end func(int, error)
		ctx, end = startSpan(ctx, req)
		defer func() { end(statusOf(resp), err) }()
	}
	obs := c.observers.Load()
	if obs == nil {
		return c.do(ctx, req, in)
	}
	var dones [4]func(int, error) // no allocation for up to four observers
	done := dones[:0]
	for _, o := range *obs {
		var d func(int, error)
		ctx, d = o.StartCall(ctx, req)
		if d != nil {
			done = append(done, d)
		}
	}
	resp, err = c.do(ctx, req, in)
	status := statusOf(resp)
	for i := len(done) - 1; i >= 0; i-- {
		done[i](status, err)
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, req *http.Request, in *pipeline.Request) (*Response, error) {
	req = req.WithContext(ctx)
	if in != nil {
		for _, h := range [...]string{"traceparent", "tracestate"} {
			if v := in.Header.Get(h); v != "" && req.Header.Get(h) == "" {
				req.Header.Set(h, v)
			}
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, scrub(req, err)
	}
	defer resp.Body.Close()
	// An answer that announces more than the limit is refused before a
	// byte of it is read: a huge body must not cost the check its budget.
	tooLarge := func() error {
		return fmt.Errorf("%s %s: %w (limit %d bytes)", req.Method, redacted(req.URL), ErrBodyTooLarge, c.maxBody)
	}
	if resp.ContentLength > c.maxBody {
		return nil, tooLarge()
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, scrub(req, err)
	}
	if int64(len(body)) > c.maxBody {
		return nil, tooLarge()
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, fmt.Errorf("%s %s: status %d: %w", req.Method, redacted(req.URL), resp.StatusCode, ErrRedirect)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// scrub rewrites net/http's error, whose text includes the full URL, into
// one with the query and user info removed.
func scrub(req *http.Request, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %s: %w", req.Method, redacted(req.URL), err)
}

func redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	c.Fragment = ""
	return c.String()
}

// IsTimeout reports whether err is a deadline or timeout failure, so callers
// can give it a distinct reason id.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
