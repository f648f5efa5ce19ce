package authz

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// recordingSpan is a span that reports itself recorded, with a fixed
// trace id.
type recordingSpan struct{ noop.Span }

func (recordingSpan) IsRecording() bool { return true }

func (recordingSpan) SpanContext() trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
}

// TestRecordWritesEveryField: a decision that sets everything the line can
// carry fills the pooled field array exactly, twice in a row (the second
// from a recycled array), and a plain one after it has only its ten
// fields.
func TestRecordWritesEveryField(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	c := NewChecker(nil, zap.New(core), nil)
	steps := &stepLog{}
	_, done := steps.StartStep(context.Background(), pipeline.Step{Kind: pipeline.StepKind("authenticator"), Handler: "anonymous"})
	done(nil)
	full := &pipeline.Decision{Allowed: true, RuleID: "r", Subject: "alice", Handler: "deny", Reason: pipeline.ReasonAllowed,
		Err: errors.New("boom"), Duration: time.Millisecond, Shadow: true, WouldReason: "forbidden", WouldStatus: 403, RulesVersion: "v1"}
	r := &pipeline.Request{ID: "id-1", Method: "GET", Host: "api.test", Path: "/x"}
	c.record(r, full, steps, recordingSpan{})
	c.record(r, full, steps, recordingSpan{})
	c.record(r, &pipeline.Decision{Denial: pipeline.Denial{Status: 404}, Reason: "no_rule_match"}, nil, nil)
	lines := logs.All()
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, want := range []int{maxDecisionFields, maxDecisionFields, 10} {
		if got := len(lines[i].Context); got != want {
			t.Errorf("line %d has %d fields, want %d: %v", i, got, want, lines[i].ContextMap())
		}
	}
	wantTrace := recordingSpan{}.SpanContext().TraceID().String()
	if m := lines[0].ContextMap(); m["trace_id"] != wantTrace || m["would_status"] != int64(403) || m["error"] != "boom" {
		t.Errorf("full line %v", m)
	}
}
