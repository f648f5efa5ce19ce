package session

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// StoreCache caches session-store answers (the raw 200 body) across rules
// and reloads. One instance serves cookie_session and bearer_token.
type StoreCache = remotecall.Cache[[]byte]

// NewStoreCache returns a StoreCache.
func NewStoreCache(o remotecall.CacheOptions) *StoreCache { return remotecall.NewCache[[]byte](o) }

// Call is a compiled session-store call: everything Oathkeeper derived from
// the config on every request is worked out once here. A Call is immutable
// and safe for concurrent use.
type Call struct {
	base       url.URL
	o          Options
	forward    []string    // canonical names
	additional [][2]string // canonical name, value; sorted
	timeout    time.Duration
	client     *outbound.Client
	cache      *StoreCache // nil when the rule does not cache
	ttl        time.Duration
	keys       *remotecall.Keyer
	breaker    *breaker.Breaker // the circuit of the configured URL
	flight     *remotecall.Flight
	config     [sha256.Size]byte // digest of every option that shapes the call
	now        func() time.Time
}

// New compiles o. cache may be nil unless o.Cache.Enabled; when given, its
// Flight coalesces this rule's calls with every identical one, also when
// the rule does not cache.
func New(o Options, client *outbound.Client, cache *StoreCache) (*Call, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("session: no outbound client")
	}
	if o.Cache.Enabled && cache == nil {
		return nil, errors.New("cache.enabled: the service provides no session cache")
	}
	u, _ := remotecall.ParseURL(o.CheckSessionURL)
	c := &Call{base: *u, o: o, forward: o.forwardList(), timeout: o.Timeout, client: client, now: time.Now,
		keys: remotecall.NewKeyer(), flight: new(remotecall.Flight)}
	if cache != nil {
		c.keys, c.flight = cache.Keyer, cache.Flight()
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	c.breaker = o.CircuitBreaker.Breaker(client, u)
	for k, v := range o.AdditionalHeaders {
		c.additional = append(c.additional, [2]string{http.CanonicalHeaderKey(k), v})
	}
	sort.Slice(c.additional, func(i, j int) bool { return c.additional[i][0] < c.additional[j][0] })
	if o.Cache.Enabled {
		c.cache, c.ttl = cache, o.Cache.TTL.Std()
		if c.ttl == 0 {
			c.ttl = DefaultCacheTTL
		}
	}
	// The digest covers the options that shape the request or the reading
	// of its answer, so two rules share an entry only when they would have
	// sent the same call and read it the same way.
	b, err := json.Marshal(struct {
		H, U, M, S, E string
		RP, RQ, PH    bool
		F             []string
		A             [][2]string
	}{o.Handler, u.String(), o.ForceMethod, o.SubjectFrom, o.ExtraFrom, o.ReplacePath, o.ReplaceQuery, o.PreserveHost, c.forward, c.additional})
	if err != nil {
		return nil, err
	}
	c.config = sha256.Sum256(b)
	return c, nil
}

// request builds the session-store request for r: the configured URL,
// path and query included, unless ReplacePath or ReplaceQuery say
// otherwise. The method is the request's unless ForceMethod is set. The
// request body is never forwarded.
func (c *Call) request(r *pipeline.Request) *http.Request {
	u := c.base
	if c.o.ReplacePath {
		u.Path, u.RawPath = requestPath(r), ""
	}
	if c.o.ReplaceQuery {
		u.RawQuery = r.RawQuery
	}
	method := c.o.ForceMethod
	if method == "" {
		method = r.Method
		// Oathkeeper issue #1172: a HEAD call returns no body, so the
		// subject came back empty. The session store is asked with GET
		// instead; an explicit force_method: HEAD is still honoured.
		if method == http.MethodHead {
			method = http.MethodGet
		}
	}
	h := make(http.Header, len(c.forward)+len(c.additional)+2)
	for _, name := range c.forward {
		if v := r.Header.Values(name); len(v) > 0 {
			h[name] = append([]string(nil), v...)
		}
	}
	for _, kv := range c.additional {
		h[kv[0]] = []string{kv[1]}
	}
	if c.o.PreserveHost {
		h.Set("X-Forwarded-Host", r.Host)
	}
	if h.Get("Accept") == "" {
		h.Set("Accept", "application/json")
	}
	return &http.Request{Method: method, URL: &u, Host: u.Host, Header: h,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// requestPath is the path the session store sees with an explicit
// preserve_path: false: the normalised path rules matched, as Oathkeeper
// used the cleaned request path.
func requestPath(r *pipeline.Request) string {
	if r.Path != "" {
		return r.Path
	}
	if p, err := url.PathUnescape(r.RawPath); err == nil {
		return p
	}
	return r.RawPath
}

// key returns the parts of the key that identifies the call in the cache
// and in flight, for Cache.Lookup and then Sum or Release. They cover
// everything the session store saw (D-11): the final method and URL and
// every forwarded header value, credentials included, not just the one
// cookie or token that made the handler responsible, and the options that
// read the answer.
func (c *Call) key(req *http.Request) *remotecall.Hasher {
	h := c.keys.NewHasher()
	h.Bytes(c.config[:]).String(req.Method).String(req.URL.String())
	for _, name := range c.forward {
		h.String(name).Strings(req.Header[name])
	}
	h.String(req.Header.Get("X-Forwarded-Host"))
	return h
}

// Authenticate asks the session store about r and fills s from its answer.
// The caller has decided that the handler is responsible. Concurrent
// checks of one session share one call (remotecall.Coalesce), which is
// bounded by the rule's timeout and by the check's deadline.
func (c *Call) Authenticate(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	req := c.request(r)
	h := c.key(req)
	if c.cache != nil {
		if body, ok := c.cache.Lookup(h, c.now()); ok {
			h.Release()
			return Parse(body, c.o.SubjectFrom, c.o.ExtraFrom, s)
		}
	}
	key := h.Sum()
	resp, err := remotecall.Coalesce(ctx, c.flight, key, c.timeout, func(ctx context.Context) (*outbound.Response, error) {
		once := remotecall.Retry{AttemptTimeout: c.timeout}
		return once.DoWithBreaker(ctx, c.breaker, func(ctx context.Context) (*outbound.Response, error) {
			return c.client.Do(ctx, req, r)
		})
	})
	if err != nil {
		return transportError(err)
	}
	if err := statusError(resp); err != nil {
		return err
	}
	if err := Parse(resp.Body, c.o.SubjectFrom, c.o.ExtraFrom, s); err != nil {
		return err
	}
	if c.cache != nil {
		now := c.now()
		c.cache.Set(key, resp.Body, int64(len(resp.Body)), now, now.Add(c.ttl))
	}
	return nil
}
