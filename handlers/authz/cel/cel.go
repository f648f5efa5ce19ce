package cel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	celgo "github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// CostLimit bounds one evaluation in CEL cost units (roughly one per
// operation, more for long strings and lists). It is the limit Kubernetes
// uses per expression; a request with enough headers to exhaust it is
// denied rather than allowed to burn CPU.
const CostLimit = 1_000_000

// sharedEnv is the CEL environment every expression compiles against. It is
// immutable and costly to build, so it is built once per process; it is
// a compiled constant, not a dependency.
var sharedEnv = sync.OnceValues(func() (*celgo.Env, error) {
	return celgo.NewEnv(
		celgo.Variable("request", celgo.MapType(celgo.StringType, celgo.DynType)),
		celgo.Variable("subject", celgo.StringType),
		celgo.Variable("extra", celgo.MapType(celgo.StringType, celgo.DynType)),
		celgo.Variable("captures", celgo.ListType(celgo.StringType)),
		ext.Strings(),
		ext.Sets(),
	)
})

// Authorizer allows a request when its compiled CEL expression evaluates
// to true. The program is compiled and type-checked once in New and
// shared by all requests; Authorize is safe for concurrent use.
type Authorizer struct {
	prg     celgo.Program
	adapter types.Adapter
	message string
}

// New compiles c.Expression. Errors name the expression and CEL's issue.
func New(c Config) (pipeline.Authorizer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	env, err := sharedEnv()
	if err != nil {
		return nil, fmt.Errorf("build cel environment: %w", err)
	}
	ast, iss := env.Compile(c.Expression)
	if err := iss.Err(); err != nil {
		return nil, fmt.Errorf("expression: compile %q: %w", clip(c.Expression), err)
	}
	if t := ast.OutputType(); !t.IsExactType(celgo.BoolType) {
		return nil, fmt.Errorf("expression: %q returns %s, want bool (compare explicitly, e.g. extra.admin == true)",
			clip(c.Expression), celgo.FormatCELType(t))
	}
	prg, err := env.Program(ast,
		celgo.CostLimit(CostLimit),
		celgo.InterruptCheckFrequency(100),
		celgo.EvalOptions(celgo.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("expression: plan %q: %w", clip(c.Expression), err)
	}
	return &Authorizer{prg: prg, adapter: env.CELTypeAdapter(), message: c.Message}, nil
}

// Authorize evaluates the expression. true allows; false is a 403
// (cel_denied) with the configured message. An evaluation error is also a
// 403, not a 500: it is the request that lacks what the policy reads (a
// missing header is CEL's "no such key"), so a client can cause it at will
// and it must neither allow nor page anyone. Exceeding CostLimit is a 403
// with its own ID (cel_cost_limit_exceeded); a cancelled context is a 503.
func (a *Authorizer) Authorize(ctx context.Context, r *pipeline.Request, s *pipeline.Session) error {
	act := getActivation(a.adapter, r, s)
	out, _, err := a.prg.ContextEval(ctx, act)
	act.release()
	if err != nil {
		return evalError(ctx, err)
	}
	switch out {
	case types.True:
		return nil
	case types.False:
		e := pipeline.Forbidden("cel_denied", "expression evaluated to false", nil)
		e.Message = a.message
		return e
	}
	return pipeline.Forbidden("cel_evaluation_failed", "expression did not evaluate to a bool", nil)
}

// Errors kept as causes. CEL's own messages are not passed on: they can
// quote request data ("parsing \"<header value>\": invalid syntax"), and a
// header value may be a credential.
var (
	errNoSuchKey      = errors.New("no such key")
	errNoSuchOverload = errors.New("no matching overload")
	errEvaluation     = errors.New("evaluation error")
	errCostLimit      = errors.New("cost limit exceeded")
)

func evalError(ctx context.Context, err error) *pipeline.Error {
	var ce interpreter.EvalCancelledError
	switch {
	case errors.As(err, &ce) && ce.Cause == interpreter.CostLimitExceeded:
		return pipeline.Forbidden("cel_cost_limit_exceeded", "expression exceeded its cost limit", errCostLimit)
	case ctx.Err() != nil || errors.Is(err, interpreter.InterruptError{}):
		return pipeline.Unavailable("cel_cancelled", "evaluation was cancelled", ctx.Err())
	}
	cause := errEvaluation
	switch msg := err.Error(); {
	case strings.HasPrefix(msg, "no such key"):
		cause = errNoSuchKey
	case strings.HasPrefix(msg, "no such overload"), strings.HasPrefix(msg, "no matching overload"):
		cause = errNoSuchOverload
	}
	return pipeline.Forbidden("cel_evaluation_failed", "expression could not be evaluated", cause)
}

// clip shortens an expression for error messages.
func clip(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

var _ pipeline.Authorizer = (*Authorizer)(nil)
