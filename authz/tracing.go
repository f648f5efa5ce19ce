package authz

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// tracerName is the instrumentation scope of Portcullis's spans.
const tracerName = "github.com/portcullis-authz/portcullis"

// Span attribute keys. Only ids and outcomes: never the path, query,
// headers, tokens or the subject.
const (
	attrRuleID    = attribute.Key("portcullis.rule_id")
	attrDecision  = attribute.Key("portcullis.decision")
	attrReason    = attribute.Key("portcullis.reason")
	attrHandler   = attribute.Key("portcullis.handler")
	attrStep      = attribute.Key("portcullis.step")
	attrStepIndex = attribute.Key("portcullis.step.index")
	attrOutcome   = attribute.Key("portcullis.outcome")
	attrStatus    = attribute.Key("http.response.status_code")
	attrMethod    = attribute.Key("http.request.method")
	attrHost      = attribute.Key("server.address")
)

// WithTracer traces every check with tp: a server span per check (both
// front doors), whose parent is the traceparent/tracestate of the checked
// request, with a child span per handler call (the first step observer,
// so that the others and the handlers' remote calls see the child span).
// A nil tp leaves tracing off, which costs checks nothing.
func WithTracer(tp trace.TracerProvider) CheckerOption {
	return func(c *Checker) {
		if tp == nil {
			return
		}
		c.tracer = tp.Tracer(tracerName)
		c.stepObs = append([]pipeline.StepObserver{stepTracer{c.tracer}}, c.stepObs...)
	}
}

// startCheckSpan starts the span of one check, child of the trace the
// request's W3C trace context headers name (a new trace without them).
func (c *Checker) startCheckSpan(ctx context.Context, r *pipeline.Request) (context.Context, trace.Span) {
	ctx = propagation.TraceContext{}.Extract(ctx, headerCarrier(r.Header))
	return c.tracer.Start(ctx, "check", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrMethod.String(r.Method), attrHost.String(r.Host)))
}

// endCheckSpan records the decision on span and ends it. A denial is the
// service working; only a 5xx (a fault) marks the span as an error.
func endCheckSpan(span trace.Span, d *pipeline.Decision) {
	if span.IsRecording() {
		decision, status := "deny", d.Denial.Status
		if d.Allowed {
			decision, status = "allow", 200
		}
		span.SetAttributes(attrRuleID.String(d.RuleID), attrDecision.String(decision),
			attrReason.String(d.Reason), attrStatus.Int(status))
		if status >= 500 {
			span.SetStatus(codes.Error, d.Reason)
		}
	}
	span.End()
}

// traceID returns the trace id of a recording span, "" otherwise.
func traceID(span trace.Span) string {
	if span == nil || !span.IsRecording() {
		return ""
	}
	return span.SpanContext().TraceID().String()
}

// stepTracer is the step observer that gives each handler call a span.
type stepTracer struct{ t trace.Tracer }

// StartStep implements pipeline.StepObserver. Under a check span that is
// not recorded (sampled out) it adds nothing.
func (s stepTracer) StartStep(ctx context.Context, st pipeline.Step) (context.Context, func(error)) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	ctx, span := s.t.Start(ctx, string(st.Kind)+" "+st.Handler, trace.WithAttributes(
		attrStep.String(string(st.Kind)), attrHandler.String(st.Handler),
		attrRuleID.String(st.RuleID), attrStepIndex.Int(st.Index)))
	return ctx, func(err error) {
		switch {
		case err == nil:
			span.SetAttributes(attrOutcome.String("ok"))
		case errors.Is(err, pipeline.ErrSkip):
			span.SetAttributes(attrOutcome.String("skipped"))
		default:
			// The reason id and status only: an error's text may quote
			// what the client sent.
			reason, status := pipeline.ReasonOf(err, "error"), pipeline.StatusOf(err)
			span.SetAttributes(attrOutcome.String("error"), attrReason.String(reason), attrStatus.Int(status))
			if status >= 500 {
				span.SetStatus(codes.Error, reason)
			}
		}
		span.End()
	}
}

// headerCarrier adapts the checked request's headers to the propagator.
type headerCarrier pipeline.Header

// Get returns the first value of key.
func (h headerCarrier) Get(key string) string { return pipeline.Header(h).Get(key) }

// Set replaces the values of key (unused: checks only extract).
func (h headerCarrier) Set(key, value string) { pipeline.Header(h).Set(key, value) }

// Keys lists the header names.
func (h headerCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
