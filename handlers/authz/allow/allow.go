// Package allow is the "allow" authorizer: every authenticated request may
// proceed. It imports only pipeline.
package allow

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is empty; any key is an error.
type Config struct{}

// Authorizer allows everything.
type Authorizer struct{}

// New returns the authorizer.
func New(Config) (pipeline.Authorizer, error) { return Authorizer{}, nil }

// Authorize always allows.
func (Authorizer) Authorize(context.Context, *pipeline.Request, *pipeline.Session) error { return nil }

var _ pipeline.Authorizer = Authorizer{}
