// Package unauthorized is the "unauthorized" authenticator: it rejects every
// request with 401. It imports only pipeline.
package unauthorized

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is empty; any key is an error.
type Config struct{}

// Authenticator rejects everything.
type Authenticator struct{}

// New returns the authenticator.
func New(Config) (pipeline.Authenticator, error) { return Authenticator{}, nil }

// Authenticate always fails with 401.
func (Authenticator) Authenticate(context.Context, *pipeline.Request, *pipeline.Session) error {
	return pipeline.Unauthorized("unauthorized_handler", "access credentials are not sufficient", nil)
}

var _ pipeline.Authenticator = Authenticator{}
