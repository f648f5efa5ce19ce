package rulestore

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Set is one complete rule set as a source delivers it.
type Set struct {
	// Specs are the decoded rules, not yet compiled.
	Specs []pipeline.RuleSpec
	// Version identifies the content: the same rules read again have the
	// same version, so a source can skip publishing them.
	Version string
}

// Source delivers rule sets. Run publishes each new complete set until
// ctx is done; publish (Store.Publish) returns the set's validation error,
// and the rules in force then stay. Run returns nil when ctx ends.
type Source interface {
	Run(ctx context.Context, publish func(Set) error) error
}
