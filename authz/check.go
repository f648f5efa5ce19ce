package authz

import (
	"context"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-authz/portcullis/envoy"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Snapshots gives the rule snapshot in force (nil before the first load).
type Snapshots interface {
	Current() *pipeline.Snapshot
}

// Observer is told about every decision (metrics). It must be cheap and
// safe for concurrent use. The decision comes by value: a pointer handed
// to an interface method would move every check's decision to the heap.
type Observer interface {
	ObserveDecision(d pipeline.Decision)
}

// Checker runs checks and logs decisions. It is shared by the gRPC and HTTP
// front doors, and runs every check under its deadline budget (WithBudget).
type Checker struct {
	snaps Snapshots
	log   *zap.Logger
	obs   Observer

	timeout, margin time.Duration // the budget

	stepObs []pipeline.StepObserver // WithStepObservers
	steps   pipeline.StepObserver   // stepObs composed, nil without any

	tracer trace.Tracer // WithTracer; nil: tracing off

	sampling decisionSampling // WithDecisionSampling
}

// NewChecker returns a Checker. obs may be nil. Without WithBudget, checks
// run under DefaultCheckTimeout and DefaultDeadlineMargin.
func NewChecker(snaps Snapshots, log *zap.Logger, obs Observer, opts ...CheckerOption) *Checker {
	if log == nil {
		log = zap.NewNop()
	}
	c := &Checker{snaps: snaps, log: log, obs: obs, timeout: DefaultCheckTimeout, margin: DefaultDeadlineMargin}
	for _, o := range opts {
		o(c)
	}
	c.steps = composeSteps(c.stepObs)
	return c
}

// Decide runs r through the current snapshot; a request that could not be
// translated (malformed != nil) is denied with 400 by the snapshot's
// fallback error handlers. The caller logs the final decision with
// record, once.
func (c *Checker) Decide(ctx context.Context, r *pipeline.Request, malformed error) pipeline.Decision {
	snap := c.snaps.Current()
	var d pipeline.Decision
	if malformed != nil {
		start := time.Now()
		d = snap.Reject(ctx, r, pipeline.NewError(400, pipeline.ReasonMalformed, "malformed check request", malformed))
		d.Duration = time.Since(start)
	} else {
		d = snap.Execute(ctx, r)
	}
	if snap != nil {
		d.RulesVersion = snap.Version
	}
	return d
}

// Check implements envoy.service.auth.v3.Authorization. It always answers
// with a CheckResponse: policy denials and internal faults (dependency
// down, no rules yet) are in-band denials, so a gRPC error only ever
// means the server itself failed and Envoy's failure_mode_allow /
// status_on_error decide.
func (c *Checker) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	r, err := envoy.ToRequest(req)
	if r == nil {
		r = &pipeline.Request{}
	}
	d := c.final(ctx, r, err)
	resp := envoy.ToCheckResponse(&d)
	d.Release() // resp holds copies of the strings only
	return resp, nil
}

// final decides under the check budget, fails closed on a decision that
// cannot be put on the wire (a mutation Envoy would reject, or a header
// value that would smuggle another header), and logs the outcome once.
// Both front doors use it.
//
// Handlers stop waiting when the budget's context ends (every remote call
// and wait takes its deadline from it), and the pipeline then answers 503
// with reason deadline, so the answer is sent while the caller still
// listens.
func (c *Checker) final(ctx context.Context, r *pipeline.Request, malformed error) pipeline.Decision {
	var span trace.Span
	if c.tracer != nil {
		ctx, span = c.startCheckSpan(ctx, r)
	}
	b := c.budget(ctx)
	defer b.release()
	// At debug level the decision line lists each handler's outcome; the
	// level can change at run time, so this is asked per check.
	var steps *stepLog
	if c.log.Core().Enabled(zapcore.DebugLevel) {
		steps = &stepLog{}
	}
	ctx = c.withSteps(b, stepsObserver(steps))
	d := c.Decide(ctx, r, malformed)
	if verr := envoy.ValidateDecision(&d); verr != nil {
		rd := c.snaps.Current().Reject(ctx, r, pipeline.Internal("invalid_mutation", "decision cannot be encoded", verr))
		rd.RuleID, rd.Subject, rd.Duration, rd.RulesVersion = d.RuleID, d.Subject, d.Duration, d.RulesVersion
		d = rd
	}
	c.record(r, &d, steps, span)
	if span != nil {
		endCheckSpan(span, &d)
	}
	return d
}

// record writes the decision log line. Credentials never reach it: the
// line carries ids, the subject, the method, host and path without query.
// Allowed decisions may be sampled (WithDecisionSampling); denials never
// are.
func (c *Checker) record(r *pipeline.Request, d *pipeline.Decision, steps *stepLog, span trace.Span) {
	if c.obs != nil {
		c.obs.ObserveDecision(*d)
	}
	lvl := zapcore.InfoLevel
	if !d.Allowed && pipeline.StatusOf(d.Err) >= 500 {
		lvl = zapcore.WarnLevel
	}
	// Only lines the level lets through are counted, so that sample:N
	// writes one line in N whatever the level was before.
	if c.sampling.on && c.log.Core().Enabled(lvl) && c.sampling.skip(d) {
		return
	}
	ce := c.log.Check(lvl, "decision")
	if ce == nil {
		return
	}
	decision := "deny"
	status := d.Denial.Status
	if d.Allowed {
		decision, status = "allow", 200
	}
	path := r.Path
	if path == "" {
		path = r.RawPath
	}
	fields := decisionFieldsPool.Get().(*decisionFields)
	defer fields.release()
	fields.add(zap.String("decision", decision))
	fields.add(zap.String("rule_id", d.RuleID))
	fields.add(zap.String("rules_version", d.RulesVersion))
	fields.add(zap.String("reason", d.Reason))
	fields.add(zap.Int("status", status))
	fields.add(zap.Float64("duration_ms", durationMS(d.Duration)))
	fields.add(zap.String("request_id", r.ID))
	fields.add(zap.String("method", r.Method))
	fields.add(zap.String("host", r.Host))
	fields.add(zap.String("path", path))
	if d.Subject != "" {
		fields.add(zap.String("subject", d.Subject))
	}
	if d.Handler != "" {
		fields.add(zap.String("handler", d.Handler))
	}
	if d.Shadow {
		// The rule runs in shadow mode: decision is what happened (allow),
		// would_* what enforcing it would have answered.
		fields.add(zap.String("mode", pipeline.ModeShadow))
		fields.add(zap.String("would_decision", decisionLabel(!d.WouldDeny())))
		fields.add(zap.String("would_reason", d.WouldReason))
		if d.WouldStatus != 0 {
			fields.add(zap.Int("would_status", d.WouldStatus))
		}
	}
	if d.Err != nil {
		fields.add(zap.String("error", d.Err.Error()))
	}
	if id := traceID(span); id != "" {
		fields.add(zap.String("trace_id", id))
	}
	if steps != nil {
		fields.add(steps.field())
	}
	ce.Write(fields.f[:fields.n]...)
}
