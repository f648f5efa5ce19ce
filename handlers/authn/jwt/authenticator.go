package jwt

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/handlers/internal/scope"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Authenticator verifies JWTs for one rule. It is immutable after New and
// safe for concurrent use.
type Authenticator struct {
	from     *token.From
	keys     *jwks.Cache
	srcs     []*jwks.Source
	maxWait  time.Duration
	algs     []algVerifier
	issuers  []string
	audience []string
	scopes   []string
	strategy scope.Strategy
	required []string
	skew     float64 // seconds
	maxLife  float64 // seconds, 0 = no limit
	tokens   *TokenCache
	cfg      [sha256.Size]byte
	log      *zap.Logger
	now      func() time.Time

	closeOnce sync.Once
}

// New builds the authenticator for one rule: it validates c, registers the
// JWKS URLs with keys (which starts fetching them in the background) and
// resolves the algorithms. tokens may be nil to disable the verified-token
// cache; log may be nil. The result is an *Authenticator, which also
// implements io.Closer.
func New(c Config, keys *jwks.Cache, tokens *TokenCache, log *zap.Logger) (pipeline.Authenticator, error) {
	if keys == nil {
		return nil, errors.New("jwt: no jwks cache")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	a := &Authenticator{
		from:     c.TokenFrom,
		keys:     keys,
		maxWait:  c.JWKSMaxWait.Std(),
		issuers:  c.TrustedIssuers,
		audience: c.TargetAudience,
		scopes:   c.RequiredScope,
		strategy: scope.Strategy(c.ScopeStrategy),
		required: c.RequiredClaims,
		skew:     c.AllowedClockSkew.Std().Seconds(),
		maxLife:  c.MaxTokenLifetime.Std().Seconds(),
		tokens:   tokens,
		log:      log.Named("authn.jwt"),
		now:      time.Now,
	}
	for _, name := range c.AllowedAlgorithms {
		v, err := newVerifier(jwa.SignatureAlgorithm(name))
		if err != nil {
			return nil, fmt.Errorf("allowed_algorithms: %w", err)
		}
		a.algs = append(a.algs, algVerifier{name: name, alg: jwa.SignatureAlgorithm(name), v: v})
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("hash config: %w", err)
	}
	a.cfg = sha256.Sum256(raw)
	for i, u := range c.JWKSURLs {
		s, err := keys.Register(u, c.JWKSTTL.Std())
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("jwks_urls[%d]: %w", i, err)
		}
		a.srcs = append(a.srcs, s)
	}
	if len(a.issuers) == 0 && len(a.audience) == 0 {
		a.log.Warn("jwt authenticator has neither trusted_issuers nor target_audience: any token signed by its JWKS is accepted")
	}
	return a, nil
}

// Close releases the JWKS registrations of this rule, so a URL no rule
// uses any more stops being refreshed. It implements io.Closer, is
// idempotent, and may run while requests are still in flight on this
// instance: they keep working with the keys already loaded.
func (a *Authenticator) Close() error {
	a.closeOnce.Do(func() {
		for _, s := range a.srcs {
			a.keys.Release(s)
		}
	})
	return nil
}

// Authenticate verifies the request's token. It returns pipeline.ErrSkip
// when there is no token or the token is not a three-part compact JWS (an
// opaque token is for another authenticator), a 401 *pipeline.Error for
// any verification failure, and a 503 when the keys cannot be loaded. On
// success it sets s.Subject to sub and s.Extra to a fresh copy of the
// top-level claims map (nested values are shared with the cache and must
// be treated as read-only).
func (a *Authenticator) Authenticate(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	tok, err := a.from.Extract(r)
	if err != nil {
		return a.fail(err)
	}
	if tok == "" {
		return pipeline.ErrSkip
	}
	if len(tok) > MaxTokenBytes {
		return a.fail(errTooLarge.err())
	}
	if tok[0] == '{' {
		return a.fail(errJSONSerial.err())
	}
	if strings.Count(tok, ".") != 2 {
		if looksLikeJWS(tok) {
			return a.fail(errShape.err()) // e.g. A-10: a raw payload with dots
		}
		return pipeline.ErrSkip
	}
	now := a.now()
	var key cacheKey
	if a.tokens != nil {
		key = cacheKey{cfg: &a.cfg, tok: tok}
		if e := a.tokens.get(&key, now); e != nil {
			if err := a.checkTimes(&e.times, now); err != nil {
				return a.fail(err)
			}
			a.fill(s, e)
			return nil
		}
	}
	e, err := a.verify(ctx, tok, now)
	if err != nil {
		return a.fail(err)
	}
	if a.tokens != nil {
		a.tokens.put(&key, e, now)
	}
	a.fill(s, e)
	return nil
}

// verify runs the full verification of a token that is not cached.
func (a *Authenticator) verify(ctx context.Context, tok string, now time.Time) (*entry, error) {
	c, err := splitCompact(tok)
	if err != nil {
		return nil, err
	}
	av, err := a.checkHeader(&c.hdr)
	if err != nil {
		return nil, err
	}
	cands, err := a.findKeys(ctx, &c.hdr, av.alg)
	if err != nil {
		return nil, err
	}
	cd, ok := verifySignature(c, av, cands)
	if !ok {
		return nil, errSignature.err()
	}
	claims, err := decodePayload(c.payload)
	if err != nil {
		return nil, err
	}
	t, err := readTimes(claims)
	if err != nil {
		return nil, err
	}
	sub, err := a.checkClaims(claims)
	if err != nil {
		return nil, err
	}
	if err := a.checkTimes(&t, now); err != nil {
		return nil, err
	}
	return &entry{subject: sub, claims: claims, times: t, src: cd.src, set: cd.set}, nil
}

func (a *Authenticator) fill(s *pipeline.Session, e *entry) {
	s.Subject = e.subject
	s.Extra = maps.Clone(e.claims)
}

// fail logs the reason of a failure at debug level (never the token) and
// returns it.
func (a *Authenticator) fail(err error) error {
	if ce := a.log.Check(zap.DebugLevel, "jwt rejected"); ce != nil {
		ce.Write(zap.String("reason", pipeline.ReasonOf(err, "jwt_invalid")))
	}
	return err
}

var (
	_ pipeline.Authenticator = (*Authenticator)(nil)
	_ io.Closer              = (*Authenticator)(nil)
)
