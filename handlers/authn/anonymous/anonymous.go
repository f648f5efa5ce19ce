// Package anonymous is the "anonymous" authenticator: requests without an
// Authorization header get a fixed subject. It imports only pipeline.
package anonymous

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config holds the subject given to anonymous callers.
type Config struct {
	// Subject defaults to "anonymous".
	Subject string `json:"subject"`
}

// Validate applies the default subject.
func (c *Config) Validate() error {
	if c.Subject == "" {
		c.Subject = "anonymous"
	}
	return nil
}

// Authenticator marks credential-less requests as anonymous.
type Authenticator struct{ subject string }

// New returns the authenticator.
func New(c Config) (pipeline.Authenticator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Authenticator{subject: c.Subject}, nil
}

// Authenticate is not responsible when the request carries an Authorization
// header (as Oathkeeper), so a bad token can never be downgraded to
// anonymous access.
func (a *Authenticator) Authenticate(_ context.Context, r *pipeline.Request, s *pipeline.Session) error {
	if len(r.Header.Values("authorization")) > 0 {
		return pipeline.ErrSkip
	}
	s.Subject = a.subject
	return nil
}

var _ pipeline.Authenticator = (*Authenticator)(nil)
