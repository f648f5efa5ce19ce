package authz

import (
	"context"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// WithStepObservers adds observers told about every handler call of every
// check (per-handler metrics, tracing). The pipeline carries a single
// observer in the context, so the Checker composes them: each sees the
// context the one before it returned (a tracing observer's child span is
// the handler's parent for the ones after it), and their done functions
// run in reverse order, innermost first. Nil observers are ignored; with
// none configured, checks carry no observer at all and the hot path pays
// nothing.
func WithStepObservers(obs ...pipeline.StepObserver) CheckerOption {
	return func(c *Checker) {
		for _, o := range obs {
			if o != nil {
				c.stepObs = append(c.stepObs, o)
			}
		}
	}
}

// composeSteps returns the one observer standing for obs: nil for none,
// the observer itself for one, a fan-out otherwise.
func composeSteps(obs []pipeline.StepObserver) pipeline.StepObserver {
	switch len(obs) {
	case 0:
		return nil
	case 1:
		return obs[0]
	}
	return fanOut(append([]pipeline.StepObserver(nil), obs...))
}

// fanOut tells each of its observers about every step, in order.
type fanOut []pipeline.StepObserver

// StartStep implements pipeline.StepObserver.
func (f fanOut) StartStep(ctx context.Context, s pipeline.Step) (context.Context, func(error)) {
	dones := make([]func(error), 0, len(f))
	for _, o := range f {
		var done func(error)
		ctx, done = o.StartStep(ctx, s)
		if done != nil {
			dones = append(dones, done)
		}
	}
	return ctx, func(err error) {
		for i := len(dones) - 1; i >= 0; i-- {
			dones[i](err)
		}
	}
}

// withSteps returns ctx carrying the check's step observer: the
// configured ones, plus extra (the per-check debug recorder) when it is
// not nil. Without any, ctx is returned as is.
func (c *Checker) withSteps(ctx context.Context, extra pipeline.StepObserver) context.Context {
	o := c.steps
	if extra != nil {
		if o == nil {
			o = extra
		} else {
			o = fanOut{o, extra}
		}
	}
	return pipeline.WithStepObserver(ctx, o)
}

// stepsObserver is l as an observer, nil (not a typed nil) without one.
func stepsObserver(l *stepLog) pipeline.StepObserver {
	if l == nil {
		return nil
	}
	return l
}
