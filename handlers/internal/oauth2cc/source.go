package oauth2cc

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// refreshMargin is how long before its expiry a cached token stops being
// handed out, so a token is not sent that expires on the way (x/oauth2
// uses the same 10s).
const refreshMargin = 10 * time.Second

// Cache holds issued tokens across rules and reloads. Keys cover the
// token URL, scopes, audience, client id and a salted digest of the
// client secret: the secret is never stored in the clear.
type Cache = remotecall.Cache[Token]

// NewCache returns a token Cache.
func NewCache(o remotecall.CacheOptions) *Cache { return remotecall.NewCache[Token](o) }

// Token is an issued access token. It is a credential: never log it.
type Token struct {
	// AccessToken is the token itself.
	AccessToken string
	// TokenType is the token_type the endpoint gave ("bearer"), if any.
	TokenType string
	// Expiry is zero when the endpoint gave no expires_in.
	Expiry time.Time
}

// Options configure a Source.
type Options struct {
	// TokenURL is the token endpoint (http or https).
	TokenURL string
	// Scopes are sent space-separated as scope, when not empty.
	Scopes []string
	// Audience is sent as audience, when not empty (pre_authorization).
	Audience string
	// Retry bounds each grant.
	Retry remotecall.Retry
	// Cache turns token caching on; the Source then needs a Cache.
	Cache bool
	// CacheTTL caps how long a token is reused (0: its lifetime only).
	CacheTTL time.Duration
	// NoExpiryTTL is how long a token without expires_in is reused; 0 means
	// such a token is not cached unless CacheTTL is set.
	NoExpiryTTL time.Duration
}

// Source performs client-credentials grants (RFC 6749 §4.4) with the client
// authenticated by HTTP Basic in the header, caches the tokens, and lets
// only one grant per key run at a time. It is safe for concurrent use.
type Source struct {
	ep    remotecall.Endpoint
	url   string // ep.URL, for cache keys
	form  string // grant_type, scope, audience; no credentials
	o     Options
	cache *Cache
	keys  *remotecall.Keyer
	now   func() time.Time

	mu     sync.Mutex
	flight map[remotecall.Key]*grant
}

type grant struct {
	done chan struct{}
	tok  Token
	err  error
}

// New returns a Source. cache may be nil unless o.Cache is set.
func New(o Options, client *outbound.Client, cache *Cache) (*Source, error) {
	u, err := remotecall.ParseURL(o.TokenURL)
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("oauth2cc: no outbound client")
	}
	if o.Cache && cache == nil {
		return nil, errors.New("the service provides no token cache")
	}
	if o.Retry.Budget <= 0 {
		o.Retry = remotecall.Retry{MaxDelay: remotecall.DefaultMaxDelay, Budget: remotecall.DefaultGiveUpAfter,
			AttemptTimeout: remotecall.DefaultGiveUpAfter}
	}
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(o.Scopes) > 0 {
		form.Set("scope", strings.Join(o.Scopes, " "))
	}
	if o.Audience != "" {
		form.Set("audience", o.Audience)
	}
	s := &Source{ep: remotecall.Endpoint{Client: client, URL: u, Retry: o.Retry}, url: u.String(), form: form.Encode(),
		o: o, keys: remotecall.NewKeyer(), now: time.Now, flight: map[remotecall.Key]*grant{}}
	if o.Cache {
		s.cache, s.keys = cache, cache.Keyer
	}
	return s, nil
}

func (s *Source) key(id, secret string) remotecall.Key {
	return s.keys.NewHasher().String(s.url).String(s.form).String(id).Secret(secret).Sum()
}

// Token returns a token for the client id and secret: from the cache, or
// from a grant (joining one already running for the same key). in is the
// request being checked, for trace propagation; it may be nil.
func (s *Source) Token(ctx context.Context, in *pipeline.Request, id, secret string) (Token, error) {
	k := s.key(id, secret)
	if s.cache != nil {
		if t, ok := s.cache.Get(k, s.now()); ok {
			return t, nil
		}
	}
	s.mu.Lock()
	g, running := s.flight[k]
	if !running {
		g = &grant{done: make(chan struct{})}
		s.flight[k] = g
	}
	s.mu.Unlock()
	if !running {
		// The grant outlives a caller that gives up, so that the callers
		// waiting on it still get an answer; Retry bounds it.
		go s.run(context.WithoutCancel(ctx), in, k, id, secret, g)
	}
	select {
	case <-g.done:
		return g.tok, g.err
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

func (s *Source) run(ctx context.Context, in *pipeline.Request, k remotecall.Key, id, secret string, g *grant) {
	g.tok, g.err = s.grant(ctx, in, id, secret)
	if g.err == nil && s.cache != nil {
		now := s.now()
		if until := s.cacheUntil(g.tok, now); !until.IsZero() {
			s.cache.Set(k, g.tok, int64(len(g.tok.AccessToken)+len(g.tok.TokenType)+64), now, until)
		}
	}
	s.mu.Lock()
	delete(s.flight, k)
	s.mu.Unlock()
	close(g.done)
}

// cacheUntil returns when a token stops being reused: the earlier of
// now+CacheTTL and its expiry less a refresh margin; zero if it must not be
// cached.
func (s *Source) cacheUntil(t Token, now time.Time) time.Time {
	var until time.Time
	switch {
	case !t.Expiry.IsZero():
		margin := max(0, min(refreshMargin, t.Expiry.Sub(now)/4))
		until = t.Expiry.Add(-margin)
	case s.o.NoExpiryTTL > 0:
		until = now.Add(s.o.NoExpiryTTL)
	}
	if s.o.CacheTTL > 0 && (until.IsZero() || now.Add(s.o.CacheTTL).Before(until)) {
		until = now.Add(s.o.CacheTTL)
	}
	return until
}

// Forget drops the cached token of a client, e.g. after a resource server
// rejected it.
func (s *Source) Forget(id, secret string) {
	if s.cache != nil {
		s.cache.Delete(s.key(id, secret))
	}
}
