// Package builtin is the one list of handlers Portcullis ships. cmd calls
// Register once at start-up with the shared dependencies; nothing else
// registers handlers.
package builtin

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authn/apikey"
	"github.com/portcullis-authz/portcullis/handlers/authn/bearertoken"
	"github.com/portcullis-authz/portcullis/handlers/authn/clientcredentials"
	"github.com/portcullis-authz/portcullis/handlers/authn/cookiesession"
	"github.com/portcullis-authz/portcullis/handlers/authn/envoyjwt"
	"github.com/portcullis-authz/portcullis/handlers/authn/introspection"
	"github.com/portcullis-authz/portcullis/handlers/authn/jwt"
	"github.com/portcullis-authz/portcullis/handlers/authn/mtls"
	authnnoop "github.com/portcullis-authz/portcullis/handlers/authn/noop"
	"github.com/portcullis-authz/portcullis/handlers/authn/unauthorized"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	"github.com/portcullis-authz/portcullis/handlers/authz/cel"
	"github.com/portcullis-authz/portcullis/handlers/authz/deny"
	"github.com/portcullis-authz/portcullis/handlers/authz/keto"
	"github.com/portcullis-authz/portcullis/handlers/authz/remote"
	"github.com/portcullis-authz/portcullis/handlers/authz/remotejson"
	errjson "github.com/portcullis-authz/portcullis/handlers/errors/json"
	"github.com/portcullis-authz/portcullis/handlers/errors/redirect"
	"github.com/portcullis-authz/portcullis/handlers/errors/wwwauthenticate"
	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/handlers/internal/session"
	"github.com/portcullis-authz/portcullis/handlers/mutate/cookie"
	"github.com/portcullis-authz/portcullis/handlers/mutate/envoyresp"
	"github.com/portcullis-authz/portcullis/handlers/mutate/header"
	"github.com/portcullis-authz/portcullis/handlers/mutate/hydrator"
	"github.com/portcullis-authz/portcullis/handlers/mutate/idtoken"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Deps are the process-wide dependencies handlers share. Build them with
// NewDeps and release them with Close.
type Deps struct {
	// HTTP is the client for every remote call.
	HTTP *outbound.Client
	// Logger is the parent logger; handlers name their own child.
	Logger *zap.Logger
	// JWKS caches verification keys for every jwt rule.
	JWKS *jwks.Cache
	// JWTTokens remembers verified tokens until they expire.
	JWTTokens *jwt.TokenCache
	// IDTokens holds every id_token signer's keys, for signing and for
	// /.well-known/jwks.json.
	IDTokens *idtoken.Signers
	// Introspection caches RFC 7662 answers.
	Introspection *introspection.Cache
	// Sessions caches cookie_session and bearer_token answers.
	Sessions *session.StoreCache
	// Tokens caches client-credentials tokens (oauth2_client_credentials
	// and introspection's pre_authorization).
	Tokens *oauth2cc.Cache
	// Hydrations caches hydrator answers.
	Hydrations *hydrator.Cache

	stop func()
}

// NewDeps builds the shared dependencies and starts their background
// refreshes, which run until Close.
func NewDeps(log *zap.Logger) *Deps {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Deps{HTTP: outbound.New(outbound.Options{}), Logger: log}
	d.JWKS = jwks.New(jwks.Options{Client: d.HTTP, Logger: log.Named("jwks")})
	d.JWTTokens = jwt.NewTokenCache(jwt.TokenCacheOptions{})
	d.IDTokens = idtoken.NewSigners(idtoken.Options{Client: d.HTTP, Logger: log.Named("id_token")})
	// Each cache is bounded in entries and bytes; all are shared by every
	// rule and survive reloads, keyed by a digest of the call's config.
	d.Introspection = introspection.NewCache(remotecall.CacheOptions{MaxEntries: 100_000, MaxBytes: 64 << 20})
	d.Sessions = session.NewStoreCache(remotecall.CacheOptions{MaxEntries: 100_000, MaxBytes: 64 << 20})
	d.Tokens = oauth2cc.NewCache(remotecall.CacheOptions{MaxEntries: 1000})
	d.Hydrations = hydrator.NewCache(10_000, 64<<20)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	run := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				log.Error("background refresh stopped", zap.Error(err))
			}
		}()
	}
	run(d.JWKS.Run)
	run(d.IDTokens.Run)
	d.stop = func() { cancel(); wg.Wait() }
	return d
}

// Close stops the background work and waits for it.
func (d *Deps) Close() {
	if d.stop != nil {
		d.stop()
	}
}

// PublicJWKS returns the public keys of every id_token signer as a JWKS
// document, for /.well-known/jwks.json.
func (d *Deps) PublicJWKS() ([]byte, error) { return d.IDTokens.PublicJWKS() }

// Register adds every shipped handler to r.
func Register(r *pipeline.Registry, d *Deps) {
	pipeline.RegisterAuthenticator(r, "noop", authnnoop.New)
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthenticator(r, "unauthorized", unauthorized.New)
	pipeline.RegisterAuthenticator(r, "jwt", func(c jwt.Config) (pipeline.Authenticator, error) {
		return jwt.New(c, d.JWKS, d.JWTTokens, d.Logger.Named("jwt"))
	})
	pipeline.RegisterAuthenticator(r, "mtls", mtls.New)
	pipeline.RegisterAuthenticator(r, "envoy_jwt_authn", envoyjwt.New)
	pipeline.RegisterAuthenticator(r, "api_key", apikey.New)
	pipeline.RegisterAuthenticator(r, "oauth2_introspection", func(c introspection.Config) (pipeline.Authenticator, error) {
		return introspection.New(c, d.HTTP, d.Introspection, d.Tokens)
	})
	pipeline.RegisterAuthenticator(r, "cookie_session", func(c cookiesession.Config) (pipeline.Authenticator, error) {
		return cookiesession.New(c, d.HTTP, d.Sessions)
	})
	pipeline.RegisterAuthenticator(r, "bearer_token", func(c bearertoken.Config) (pipeline.Authenticator, error) {
		return bearertoken.New(c, d.HTTP, d.Sessions)
	})
	pipeline.RegisterAuthenticator(r, "oauth2_client_credentials", func(c clientcredentials.Config) (pipeline.Authenticator, error) {
		return clientcredentials.New(c, d.HTTP, d.Tokens)
	})

	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterAuthorizer(r, "deny", deny.New)
	pipeline.RegisterAuthorizer(r, "remote", func(c remote.Config) (pipeline.Authorizer, error) { return remote.New(c, d.HTTP) })
	pipeline.RegisterAuthorizer(r, "remote_json", func(c remotejson.Config) (pipeline.Authorizer, error) { return remotejson.New(c, d.HTTP) })
	pipeline.RegisterAuthorizer(r, "keto_engine_acp_ory", func(c keto.Config) (pipeline.Authorizer, error) { return keto.New(c, d.HTTP) })
	pipeline.RegisterAuthorizer(r, "cel", cel.New)

	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterMutator(r, "header", header.New)
	pipeline.RegisterMutator(r, "cookie", cookie.New)
	pipeline.RegisterMutator(r, "id_token", func(c idtoken.Config) (pipeline.Mutator, error) { return idtoken.New(c, d.IDTokens) })
	pipeline.RegisterMutator(r, "hydrator", func(c hydrator.Config) (pipeline.Mutator, error) { return hydrator.New(c, d.HTTP, d.Hydrations) })
	pipeline.RegisterMutator(r, "envoy", envoyresp.New)

	pipeline.RegisterErrorHandler(r, "json", errjson.New)
	pipeline.RegisterErrorHandler(r, "redirect", redirect.New)
	pipeline.RegisterErrorHandler(r, "www_authenticate", wwwauthenticate.New)
}

// Names lists the shipped handlers of kind k, sorted: the names Register
// registers, for the service config (environment overrides of handlers a
// file does not mention). Nothing is built.
func Names(k pipeline.Kind) []string {
	r := pipeline.NewRegistry()
	Register(r, &Deps{}) // the factories read Deps only when they build
	return r.Names(k)
}

// Key set uses reported by KeySet.Use.
const (
	// KeySetVerify: a jwt authenticator's jwks_urls entry.
	KeySetVerify = "verify"
	// KeySetSign: an id_token mutator's jwks_url.
	KeySetSign = "sign"
)

// KeySet is the state of one key set the rules in force use, as
// /health/ready reports it. It never holds key material.
type KeySet struct {
	// URL locates the set, without user info, query or fragment.
	URL string `json:"url"`
	// Use is KeySetVerify or KeySetSign.
	Use string `json:"use"`
	// State is "present" (loaded, last fetch succeeded), "stale" (the last
	// good keys serve while fetches fail) or "missing" (no usable keys).
	State string `json:"state"`
	// Keys is the number of usable keys.
	Keys int `json:"keys"`
	// LastSuccess is when the set last loaded (absent when never).
	LastSuccess *time.Time `json:"last_success,omitempty"`
	// Error is the last fetch error, absent after a success.
	Error string `json:"error,omitempty"`
	// FetchErrors counts the set's failed fetches since it was registered
	// (metrics; readiness reports Error).
	FetchErrors uint64 `json:"-"`
}

// KeySets returns the state of every key set a rule in force registered:
// the jwt verification sets of the shared JWKS cache and the id_token
// signing sets, sorted by URL then use. It only reads, never fetches.
func (d *Deps) KeySets() []KeySet {
	var out []KeySet
	add := func(url, use, state string, keys int, ok time.Time, err error, fetchErrors uint64) {
		ks := KeySet{URL: url, Use: use, State: state, Keys: keys, FetchErrors: fetchErrors}
		if !ok.IsZero() {
			ks.LastSuccess = &ok
		}
		switch {
		case err != nil:
			ks.Error = err.Error()
		case state == jwks.StateMissing:
			ks.Error = "not fetched yet"
		}
		out = append(out, ks)
	}
	for _, s := range d.JWKS.States() {
		add(s.URL, KeySetVerify, s.State, s.Keys, s.LastSuccess, s.LastError, s.FetchErrors)
	}
	for _, s := range d.IDTokens.States() {
		add(s.URL, KeySetSign, s.State, s.Keys, s.LastSuccess, s.LastError, s.FetchErrors)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].URL != out[j].URL {
			return out[i].URL < out[j].URL
		}
		return out[i].Use < out[j].Use
	})
	return out
}
