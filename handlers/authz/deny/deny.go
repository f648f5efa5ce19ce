// Package deny is the "deny" authorizer: every request is refused with 403.
// It imports only pipeline.
package deny

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is empty; any key is an error.
type Config struct{}

// Authorizer denies everything.
type Authorizer struct{}

// New returns the authorizer.
func New(Config) (pipeline.Authorizer, error) { return Authorizer{}, nil }

// Authorize always denies with 403.
func (Authorizer) Authorize(context.Context, *pipeline.Request, *pipeline.Session) error {
	return pipeline.Forbidden("deny_handler", "access credentials are not sufficient to access this resource", nil)
}

var _ pipeline.Authorizer = Authorizer{}
