package introspection

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Cache holds introspection answers across rules and reloads. Entries are
// keyed by the token, the introspection URL and every option that shapes
// the call (GHSA-4mq7-pvjg-xp2r), compared in full on every hit; the checks
// of the rule at hand run again on every hit.
type Cache = remotecall.Cache[*result]

// NewCache returns an introspection Cache.
func NewCache(o remotecall.CacheOptions) *Cache { return remotecall.NewCache[*result](o) }

// Authenticator validates opaque tokens at an RFC 7662 introspection
// endpoint. It is immutable and safe for concurrent use.
type Authenticator struct {
	from         *token.From
	prefix       string
	endpoint     remotecall.Endpoint
	scopeParam   string // sent as scope when the strategy is none
	strategy     scope.Strategy
	scopes       []string
	audience     []string
	issuers      []string
	types        []string // allowed_token_types
	preserveHost bool
	headers      [][2]string // canonical name, value; sorted
	preauth      *oauth2cc.Source
	preID        string
	preSecret    string
	cache        *Cache // nil when the rule does not cache
	ttl          time.Duration
	keys         *remotecall.Keyer
	flight       *remotecall.Flight
	callTimeout  time.Duration // bounds a call, retries and pre-authorization included
	config       [sha256.Size]byte
	now          func() time.Time
}

// New compiles the config. cache is the shared answer cache and tokens the
// shared client-credentials token cache; each may be nil when the config
// does not enable caching or pre_authorization. When given, the cache's
// Flight coalesces this rule's calls with every identical one, also when
// the rule does not cache.
func New(c Config, client *outbound.Client, cache *Cache, tokens *oauth2cc.Cache) (pipeline.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("introspection: no outbound client")
	}
	u, _ := remotecall.ParseURL(c.IntrospectionURL)
	st, _ := scope.Parse(c.ScopeStrategy)
	a := &Authenticator{
		from: c.TokenFrom, prefix: c.Prefix, strategy: st,
		scopes: c.RequiredScope, audience: c.TargetAudience,
		issuers: c.TrustedIssuers, types: c.AllowedTokenTypes, preserveHost: c.PreserveHost, now: time.Now,
		endpoint: c.endpoint(client, u),
		keys:     remotecall.NewKeyer(), flight: new(remotecall.Flight), callTimeout: c.Retry.GiveUpAfter.Std(),
	}
	if cache != nil {
		a.keys, a.flight = cache.Keyer, cache.Flight()
	}
	if st == scope.None && len(c.RequiredScope) > 0 {
		a.scopeParam = strings.Join(c.RequiredScope, " ")
	}
	for k, v := range c.IntrospectionRequestHeaders {
		a.headers = append(a.headers, [2]string{http.CanonicalHeaderKey(k), v})
	}
	sort.Slice(a.headers, func(i, j int) bool { return a.headers[i][0] < a.headers[j][0] })
	if p := c.PreAuthorization; p != nil && p.Enabled {
		if tokens == nil {
			return nil, errors.New("pre_authorization: the service provides no token cache")
		}
		src, err := oauth2cc.New(oauth2cc.Options{TokenURL: p.TokenURL, Scopes: p.Scope, Audience: p.Audience,
			Retry: a.endpoint.Retry, Cache: true, NoExpiryTTL: time.Hour}, client, tokens)
		if err != nil {
			return nil, err
		}
		a.preauth, a.preID, a.preSecret = src, p.ClientID, p.ClientSecret
	}
	if c.Cache.Enabled {
		if cache == nil {
			return nil, errors.New("cache.enabled: the service provides no introspection cache")
		}
		// With scope_strategy none the endpoint judges the required scopes
		// on every call, so, as in Oathkeeper, no answer is reused for
		// such a rule (and none it fetches is stored).
		if a.scopeParam == "" {
			a.cache, a.ttl = cache, c.Cache.TTL.Std()
		}
	}
	// Everything that shapes the call, and so the answer, goes into the
	// cache key; the pre-authorization secret is left out (the client id
	// already names the caller the endpoint sees).
	var pre []string
	if p := c.PreAuthorization; p != nil && p.Enabled {
		pre = append([]string{p.TokenURL, p.ClientID, p.Audience}, p.Scope...)
	}
	b, err := json.Marshal([]any{u.String(), a.scopeParam, a.headers, a.preserveHost, pre})
	if err != nil {
		return nil, err
	}
	a.config = sha256.Sum256(b)
	return a, nil
}

// Authenticate returns pipeline.ErrSkip when the request has no token where
// token_from says, or one without the prefix. Otherwise it introspects the
// token (or reuses a cached answer) and runs the checks.
func (a *Authenticator) Authenticate(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	tok, err := a.from.Extract(r)
	if err != nil {
		return err
	}
	if tok == "" || !strings.HasPrefix(tok, a.prefix) {
		return pipeline.ErrSkip
	}
	// The key covers the token and everything that shapes the call (the
	// config digest, and the host sent with preserve_host): it names the
	// answer in the cache and the call in flight.
	h := a.keys.NewHasher().Bytes(a.config[:]).String(tok)
	if a.preserveHost {
		h.String(r.Host)
	}
	var res *result
	if a.cache != nil {
		res, _ = a.cache.Lookup(h, a.now())
	}
	fresh := res == nil
	var key remotecall.Key
	if fresh {
		key = h.Sum()
	} else {
		h.Release()
	}
	if fresh {
		// Concurrent checks of one token share one call; each waits at
		// most until its own deadline.
		res, err = remotecall.Coalesce(ctx, a.flight, key, a.callTimeout, func(ctx context.Context) (*result, error) {
			return a.introspect(ctx, r, tok)
		})
		if err != nil {
			return callError(err)
		}
	}
	now := a.now()
	if err := a.check(res, now); err != nil {
		return err
	}
	if fresh && a.cache != nil {
		// As in Oathkeeper, only an answer that passed this rule's checks
		// is stored: a rejected token type, an inactive or expired token
		// or a failed audience is asked about again next time. Every hit
		// is checked again for the rule at hand.
		until := now.Add(a.ttl)
		if !res.exp.IsZero() && res.exp.Before(until) {
			until = res.exp // D-09: never past the token's exp
		}
		a.cache.Set(key, res, int64(res.size+len(tok)+256), now, until)
	}
	res.fill(s)
	return nil
}

var _ pipeline.Authenticator = (*Authenticator)(nil)
