package pipeline

import "context"

// Authenticator finds out who is calling. It returns ErrSkip when the request
// carries no credential it is responsible for, nil after setting
// s.Subject (and usually s.Extra), or any other error to stop the chain.
//
// Instances are built per rule at compile time with their merged config and
// are called concurrently: they must not keep per-request state.
type Authenticator interface {
	Authenticate(ctx context.Context, r *Request, s *Session) error
}

// Authorizer decides whether the authenticated session may proceed. It
// returns nil to allow and an error (typically ErrForbidden) to deny.
type Authorizer interface {
	Authorize(ctx context.Context, r *Request, s *Session) error
}

// Mutator shapes what the upstream receives, writing to s.Header and the
// other mutation fields of the Session. Mutators run in rule order.
type Mutator interface {
	Mutate(ctx context.Context, r *Request, s *Session) error
}

// ErrorHandler turns a failure into the response the client sees.
type ErrorHandler interface {
	// Handles reports whether the handler's "when" conditions select this
	// failure of this request.
	Handles(r *Request, err error) bool
	// HandleError renders the denial.
	HandleError(ctx context.Context, r *Request, err error) (Denial, error)
}

// Warner is implemented by handlers whose config loads but that will not
// do everything it says, e.g. a header mutator asked to set Host, which
// Envoy owns. Compile adds each warning, prefixed with the rule and the
// handler, to Snapshot.Warnings. Warnings must be one line each and must
// not contain secrets.
type Warner interface {
	Warnings() []string
}

// HeaderSetter is implemented by mutators that know at load time which
// request headers they set upstream. When a shadow rule would have denied,
// those headers are removed instead of set, so a client's own copy (an
// X-User the upstream trusts) never passes for the mutator's.
type HeaderSetter interface {
	UpstreamHeaders() []string
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, r *Request, s *Session) error

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, r *Request, s *Session) error {
	return f(ctx, r, s)
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(ctx context.Context, r *Request, s *Session) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(ctx context.Context, r *Request, s *Session) error {
	return f(ctx, r, s)
}

// MutatorFunc adapts a function to Mutator.
type MutatorFunc func(ctx context.Context, r *Request, s *Session) error

// Mutate calls f.
func (f MutatorFunc) Mutate(ctx context.Context, r *Request, s *Session) error { return f(ctx, r, s) }

// ErrorHandlerFunc adapts a function to an ErrorHandler that handles every
// failure.
type ErrorHandlerFunc func(ctx context.Context, r *Request, err error) (Denial, error)

// Handles always reports true.
func (f ErrorHandlerFunc) Handles(*Request, error) bool { return true }

// HandleError calls f.
func (f ErrorHandlerFunc) HandleError(ctx context.Context, r *Request, err error) (Denial, error) {
	return f(ctx, r, err)
}
