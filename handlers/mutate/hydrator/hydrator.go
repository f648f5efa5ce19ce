package hydrator

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/headerpolicy"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Oathkeeper's error texts, kept as the public reasons.
const (
	reasonMalformed   = "The call to an external API returned an invalid JSON object"
	reasonNon200      = "The call to an external API returned a non-200 HTTP response"
	reasonInvalidCred = "Invalid credentials were provided in mutator configuration"
	reasonNoCred      = "No credentials were provided in mutator configuration"
)

// Mutator calls the hydration API. It is immutable and safe for concurrent
// use.
type Mutator struct {
	base      url.URL
	baseQuery url.Values
	user      string
	pass      string
	basic     bool
	auth      string // the Authorization value when basic
	retry     remotecall.Retry
	breaker   *breaker.Breaker // api.url's circuit, whatever query a call adds
	client    *outbound.Client
	cache     *Cache // nil when caching is off
	ttl       time.Duration
	now       func() time.Time
}

// New returns the mutator for c. client sends the calls; cache is the
// shared answer cache and may be nil unless c.Cache.Enabled. It validates c
// itself, so it is safe to call without the registry.
func New(c Config, client *outbound.Client, cache *Cache) (pipeline.Mutator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("hydrator: no outbound client")
	}
	if c.Cache.Enabled && cache == nil {
		return nil, errors.New("cache.enabled: the service provides no hydrator cache")
	}
	u, _ := remotecall.ParseURL(c.API.URL) // checked by Validate
	m := &Mutator{base: *u, baseQuery: u.Query(), retry: c.API.Retry.Policy(0), client: client, now: time.Now,
		breaker: c.API.CircuitBreaker.Breaker(client, u)}
	if a := c.API.Auth; a != nil && a.Basic != nil {
		m.basic, m.user, m.pass = true, a.Basic.Username, a.Basic.Password
		m.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(m.user+":"+m.pass))
	}
	if c.Cache.Enabled {
		m.cache, m.ttl = cache, c.Cache.TTL.Std()
	}
	return m, nil
}

// Mutate sends the session to the API and takes Extra and Header from its
// answer. On any failure the session is left unchanged.
func (m *Mutator) Mutate(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	var key remotecall.Key
	if m.cache != nil {
		h, err := m.cacheKey(r, s)
		if err != nil {
			return pipeline.Internal("hydrator_session_unencodable", "the session cannot be encoded as JSON", err)
		}
		if raw, ok := m.cache.Lookup(h, m.now()); ok {
			h.Release()
			return apply(raw, s) // checked before it was stored
		}
		key = h.Sum()
	}
	body, err := document(r, s, false)
	if err != nil {
		return pipeline.Internal("hydrator_session_unencodable", "the session cannot be encoded as JSON", err)
	}
	header := forwarded(r)
	header.Set("Content-Type", "application/json")
	if m.basic {
		header.Set("Authorization", m.auth)
	}
	u := m.base
	u.RawQuery = query(&m.base, m.baseQuery, r.RawQuery)
	ep := remotecall.Endpoint{Client: m.client, URL: &u, Retry: m.retry, Breaker: m.breaker}
	post := func(ctx context.Context) (*outbound.Response, error) { return ep.Post(ctx, r, header, body) }
	var resp *outbound.Response
	if m.cache != nil {
		// The cache key names the whole call, so concurrent checks that
		// would send the same one share it, each bounded by its budget.
		resp, err = remotecall.Coalesce(ctx, m.cache.Flight(), key, m.retry.Budget, post)
	} else {
		resp, err = post(ctx)
	}
	if err != nil {
		return transportError(err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		if m.basic {
			return pipeline.Internal("hydrator_invalid_credentials", reasonInvalidCred, nil)
		}
		return pipeline.Internal("hydrator_no_credentials", reasonNoCred, nil)
	default:
		return pipeline.Internal("hydrator_unexpected_status", reasonNon200, fmt.Errorf("status %d", resp.StatusCode))
	}
	if err := check(resp.Body); err != nil {
		return err
	}
	if err := apply(resp.Body, s); err != nil {
		return err
	}
	if m.cache != nil {
		now := m.now()
		m.cache.Set(key, resp.Body, int64(len(resp.Body)), now, now.Add(m.ttl))
	}
	return nil
}

// cacheKey returns the parts of the call's key, for Cache.Lookup and
// then Sum or Release. They cover everything that shapes the call: the
// URL and credentials, the forwarded headers and query, and the session
// document, all without per-request trace headers.
func (m *Mutator) cacheKey(r *pipeline.Request, s *pipeline.Session) (*remotecall.Hasher, error) {
	doc, err := document(r, s, true)
	if err != nil {
		return nil, err
	}
	h := m.cache.NewHasher()
	h.String(m.base.String()).String(m.user).String(m.pass).String(r.RawQuery).Bytes(doc)
	fw := canonical(r.Header, true)
	for _, name := range sortedNames(fw) {
		if forwardable(lower(name)) {
			h.String(name).Strings(fw[name])
		}
	}
	return h, nil
}

// check accepts exactly one JSON object without duplicate keys (D-17), so
// every parser reads the answer the same way.
func check(raw []byte) error {
	if i := bytes.IndexFunc(raw, func(c rune) bool { return c != ' ' && c != '\t' && c != '\r' && c != '\n' }); i < 0 || raw[i] != '{' {
		return pipeline.Internal("hydrator_response_invalid", reasonMalformed, errors.New("answer is not a JSON object"))
	}
	if err := remotecall.CheckJSON(raw); err != nil {
		return pipeline.Internal("hydrator_response_invalid", reasonMalformed, err)
	}
	return nil
}

// apply decodes a checked answer and, only if it is acceptable, replaces
// s.Extra and s.Header with it.
func apply(raw []byte, s *pipeline.Session) error {
	var a wireAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return pipeline.Internal("hydrator_response_invalid", reasonMalformed, errors.New("answer does not have the session's shape"))
	}
	if a.Subject != s.Subject {
		return pipeline.Internal("hydrator_subject_mismatch", reasonMalformed, errors.New("answer names another subject"))
	}
	var hdr pipeline.Header
	if a.Header != nil {
		hdr = make(pipeline.Header, len(a.Header))
		for k, vs := range a.Header {
			if !httpguts.ValidHeaderFieldName(k) {
				return pipeline.Internal("hydrator_header_invalid", "the hydrator answered an invalid header name", nil)
			}
			// The answer may keep what earlier mutators set (their own
			// policy checked those at load) but adds no header a mutator
			// may not set (issue #8 item 6). Host is dropped, as the header
			// mutator drops it: Envoy owns it.
			if err := (headerpolicy.Policy{}).Check(k); err != nil && s.Header.Values(k) == nil {
				if errors.Is(err, headerpolicy.ErrHost) {
					continue
				}
				return pipeline.Internal("hydrator_header_forbidden", "header "+lower(k)+" from the hydrator cannot be set", nil)
			}
			for _, v := range vs {
				if !httpguts.ValidHeaderFieldValue(v) {
					return pipeline.Internal("hydrator_header_invalid", "header "+lower(k)+" from the hydrator contains a control character", nil)
				}
				hdr.Add(k, v)
			}
		}
	}
	s.Extra, s.Header = a.Extra, hdr
	return nil
}

// transportError maps a failed call: no answer in time or no connection is
// 503 (the dependency is down), and so is a call its open circuit breaker
// refused; a refused redirect or an oversized answer is a misbehaving API,
// 500. Texts carry no query or credential (outbound strips the URL's query
// and user info).
func transportError(err error) error {
	switch {
	case errors.Is(err, outbound.ErrRedirect):
		return pipeline.Internal("hydrator_redirect", reasonNon200, err)
	case errors.Is(err, outbound.ErrBodyTooLarge):
		return pipeline.Internal("hydrator_response_too_large", "the hydrator answer is too large", err)
	case errors.Is(err, outbound.ErrCircuitOpen):
		return remotecall.CircuitOpenError("hydrator_circuit_open", "the hydrator API", err)
	case outbound.IsTimeout(err) || errors.Is(err, context.Canceled):
		return pipeline.Unavailable("hydrator_unavailable", "the hydrator did not answer in time", err)
	}
	return pipeline.Unavailable("hydrator_unreachable", "the hydrator could not be reached", err)
}

func sortedNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func lower(s string) string { return strings.ToLower(s) }

var _ pipeline.Mutator = (*Mutator)(nil)
