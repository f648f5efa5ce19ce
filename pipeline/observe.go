package pipeline

import "context"

// StepKind names the stage a handler runs in.
type StepKind string

// The stages of a rule's pipeline, in the order they run.
const (
	StepAuthenticator StepKind = "authenticator"
	StepAuthorizer    StepKind = "authorizer"
	StepMutator       StepKind = "mutator"
	StepErrorHandler  StepKind = "error_handler"
)

// Step describes one handler call of one check.
type Step struct {
	Kind    StepKind
	RuleID  string
	Handler string
	// Index is the handler's position in its rule list.
	Index int
}

// StepObserver is told about every handler call of the checks whose
// context carries it (WithStepObserver): metrics, tracing, explain and
// debug logging all hang off this one hook, so Execute stays free of them.
//
// StartStep is called before the handler runs; it returns the context the
// handler runs with (a child span, say, or ctx itself) and a function
// that is called once with the handler's outcome: nil, ErrSkip-wrapping
// for an authenticator that was not responsible, or the error. Both must
// be cheap and safe for concurrent use.
type StepObserver interface {
	StartStep(ctx context.Context, s Step) (context.Context, func(err error))
}

type stepObserverKey struct{}

// WithStepObserver returns ctx carrying o for Execute. A nil o returns
// ctx unchanged.
func WithStepObserver(ctx context.Context, o StepObserver) context.Context {
	if o == nil {
		return ctx
	}
	return context.WithValue(ctx, stepObserverKey{}, o)
}

// stepObserver returns the observer ctx carries, or nil.
func stepObserver(ctx context.Context) StepObserver {
	o, _ := ctx.Value(stepObserverKey{}).(StepObserver)
	return o
}

// startStep is StartStep when ctx carries an observer; without one it
// costs a context lookup and returns ctx and a no-op.
func startStep(ctx context.Context, o StepObserver, s Step) (context.Context, func(error)) {
	if o == nil {
		return ctx, noopDone
	}
	sctx, done := o.StartStep(ctx, s)
	if done == nil {
		done = noopDone
	}
	return sctx, done
}

func noopDone(error) {}
