// Package builtin is the one list of handlers Portcullis ships. cmd calls
// Register once at start-up with the shared dependencies; nothing else
// registers handlers.
package builtin

import (
	"context"
	"sync"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	authnnoop "github.com/portcullis-authz/portcullis/handlers/authn/noop"
	"github.com/portcullis-authz/portcullis/handlers/authn/unauthorized"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	"github.com/portcullis-authz/portcullis/handlers/authz/deny"
	errjson "github.com/portcullis-authz/portcullis/handlers/errors/json"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/mutate/header"
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
	// IDTokens holds every id_token signer's keys, for signing and for
	// /.well-known/jwks.json.
	IDTokens *idtoken.Signers

	stop func()
}

// NewDeps builds the shared dependencies and starts their background
// refreshes, which run until Close.
func NewDeps(log *zap.Logger) *Deps {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Deps{HTTP: outbound.New(outbound.Options{}), Logger: log}
	d.IDTokens = idtoken.NewSigners(idtoken.Options{Client: d.HTTP, Logger: log.Named("id_token")})

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

	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterAuthorizer(r, "deny", deny.New)

	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterMutator(r, "header", header.New)
	pipeline.RegisterMutator(r, "id_token", func(c idtoken.Config) (pipeline.Mutator, error) { return idtoken.New(c, d.IDTokens) })

	pipeline.RegisterErrorHandler(r, "json", errjson.New)
}
