// Package builtin is the one list of handlers Portcullis ships. cmd calls
// Register once at start-up with the shared dependencies; nothing else
// registers handlers.
package builtin

import (
	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	authnnoop "github.com/portcullis-authz/portcullis/handlers/authn/noop"
	"github.com/portcullis-authz/portcullis/handlers/authn/unauthorized"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	"github.com/portcullis-authz/portcullis/handlers/authz/deny"
	errjson "github.com/portcullis-authz/portcullis/handlers/errors/json"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/mutate/header"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Deps are the process-wide dependencies handlers share.
type Deps struct {
	// HTTP is the client for every remote call.
	HTTP *outbound.Client
	// Logger is the parent logger; handlers name their own child.
	Logger *zap.Logger
}

// NewDeps builds the shared dependencies. Close releases them.
func NewDeps(log *zap.Logger) Deps {
	return Deps{HTTP: outbound.New(outbound.Options{}), Logger: log}
}

// Close stops the background work of the shared dependencies.
func (d Deps) Close() {}

// PublicJWKS returns the public keys of every id_token signer as a JWKS
// document, for /.well-known/jwks.json.
func (d Deps) PublicJWKS() ([]byte, error) { return []byte(`{"keys":[]}`), nil }

// Register adds every shipped handler to r.
func Register(r *pipeline.Registry, d Deps) {
	if d.Logger == nil {
		d.Logger = zap.NewNop()
	}
	if d.HTTP == nil {
		d.HTTP = outbound.New(outbound.Options{})
	}

	pipeline.RegisterAuthenticator(r, "noop", authnnoop.New)
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthenticator(r, "unauthorized", unauthorized.New)

	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterAuthorizer(r, "deny", deny.New)

	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterMutator(r, "header", header.New)

	pipeline.RegisterErrorHandler(r, "json", errjson.New)
}
