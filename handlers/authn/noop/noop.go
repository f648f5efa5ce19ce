// Package noop is the "noop" authenticator: it accepts every request with
// an empty subject and lets the chain stop there. It imports only pipeline.
package noop

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is empty; any key is an error.
type Config struct{}

// Authenticator accepts everything.
type Authenticator struct{}

// New returns the authenticator.
func New(Config) (pipeline.Authenticator, error) { return Authenticator{}, nil }

// Authenticate always succeeds with Subject "".
func (Authenticator) Authenticate(context.Context, *pipeline.Request, *pipeline.Session) error {
	return nil
}

var _ pipeline.Authenticator = Authenticator{}
