// Package noop is the "noop" mutator: the upstream request is left as the
// client sent it. It imports only pipeline.
//
// Oathkeeper's noop copies every request header into the session, so its
// decision API echoes Authorization and Cookie back. Behind Envoy the
// original headers reach the upstream anyway, so Portcullis sets nothing:
// no credential is echoed and no header is rewritten.
package noop

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is empty; any key is an error.
type Config struct{}

// Mutator does nothing.
type Mutator struct{}

// New returns the mutator.
func New(Config) (pipeline.Mutator, error) { return Mutator{}, nil }

// Mutate does nothing.
func (Mutator) Mutate(context.Context, *pipeline.Request, *pipeline.Session) error { return nil }

var _ pipeline.Mutator = Mutator{}
