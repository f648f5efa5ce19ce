package authz

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Handler outcomes, the outcome label of portcullis_handler_duration_seconds
// and of the debug decision line's steps: a closed set, whatever the
// handler's error says.
const (
	OutcomeOK      = "ok"      // the handler succeeded
	OutcomeSkip    = "skip"    // an authenticator not responsible for the request
	OutcomeDenied  = "denied"  // a refusal (4xx): bad credential, forbidden
	OutcomeError   = "error"   // a fault (5xx): dependency down, bad answer
	OutcomeTimeout = "timeout" // the check's budget ran out or the caller left
)

// StepOutcome classifies a handler's result into one of the Outcome
// constants.
func StepOutcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, pipeline.ErrSkip):
		return OutcomeSkip
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return OutcomeTimeout
	}
	switch pipeline.ReasonOf(err, "") {
	case pipeline.ReasonDeadline, pipeline.ReasonCanceled:
		return OutcomeTimeout
	}
	if pipeline.StatusOf(err) >= 500 {
		return OutcomeError
	}
	return OutcomeDenied
}

// HandlerMetrics times every handler call by stage, handler and outcome
// (portcullis_handler_duration_seconds). It is a pipeline.StepObserver:
// install it with WithStepObservers. Handler names come from the handler
// registry, so the labels are bounded. Timing a call does not allocate
// once its series exists.
type HandlerMetrics struct {
	hist   *prometheus.HistogramVec
	series seriesCache[stepKey, prometheus.Observer]
	timers sync.Pool // *stepTimer
}

type stepKey struct {
	kind             pipeline.StepKind
	handler, outcome string
}

// NewHandlerMetrics registers portcullis_handler_duration_seconds on reg.
func NewHandlerMetrics(reg prometheus.Registerer) *HandlerMetrics {
	h := &HandlerMetrics{hist: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "portcullis_handler_duration_seconds",
		Help:    "Time spent in each handler call, by stage (kind), handler and outcome (ok, skip, denied, error, timeout).",
		Buckets: LatencyBuckets,
	}, []string{"kind", "handler", "outcome"})}
	h.timers.New = func() any {
		t := &stepTimer{h: h}
		t.doneFn = t.done // bound once: handing it out costs nothing
		return t
	}
	reg.MustRegister(h.hist)
	return h
}

// StartStep implements pipeline.StepObserver.
func (h *HandlerMetrics) StartStep(ctx context.Context, s pipeline.Step) (context.Context, func(error)) {
	t := h.timers.Get().(*stepTimer)
	t.kind, t.handler, t.start = s.Kind, s.Handler, time.Now()
	return ctx, t.doneFn
}

// stepTimer is one handler call being timed; pooled, because the
// pipeline calls done exactly once.
type stepTimer struct {
	h       *HandlerMetrics
	doneFn  func(error)
	kind    pipeline.StepKind
	handler string
	start   time.Time
}

func (t *stepTimer) done(err error) {
	elapsed := time.Since(t.start)
	k := stepKey{kind: t.kind, handler: t.handler, outcome: StepOutcome(err)}
	h := t.h
	t.handler = ""
	h.timers.Put(t)
	h.series.get(k, func() prometheus.Observer {
		return h.hist.WithLabelValues(string(k.kind), boundedLabel(k.handler), k.outcome)
	}).Observe(elapsed.Seconds())
}

// stepLog records the handler calls of one check for its debug decision
// line. Only the stage, handler, outcome class, reason id and duration are
// kept: never an error text, which may quote a request value.
type stepLog struct {
	mu    sync.Mutex
	steps []loggedStep
}

type loggedStep struct {
	kind             pipeline.StepKind
	handler, outcome string
	reason           string
	dur              time.Duration
}

// StartStep implements pipeline.StepObserver.
func (l *stepLog) StartStep(ctx context.Context, s pipeline.Step) (context.Context, func(error)) {
	start := time.Now()
	return ctx, func(err error) {
		st := loggedStep{kind: s.Kind, handler: s.Handler, outcome: StepOutcome(err), dur: time.Since(start)}
		if err != nil && !errors.Is(err, pipeline.ErrSkip) {
			st.reason = boundedLabel(pipeline.ReasonOf(err, ""))
		}
		l.mu.Lock()
		l.steps = append(l.steps, st)
		l.mu.Unlock()
	}
}

// field returns the steps as one structured log field.
func (l *stepLog) field() zap.Field {
	l.mu.Lock()
	defer l.mu.Unlock()
	return zap.Array("steps", loggedSteps(append([]loggedStep(nil), l.steps...)))
}

type loggedSteps []loggedStep

func (s loggedSteps) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for i := range s {
		if err := enc.AppendObject(&s[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *loggedStep) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("kind", string(s.kind))
	enc.AddString("handler", s.handler)
	enc.AddString("outcome", s.outcome)
	if s.reason != "" {
		enc.AddString("reason", s.reason)
	}
	enc.AddFloat64("duration_ms", durationMS(s.dur))
	return nil
}

// durationMS is d in milliseconds, the unit of every duration_ms log key.
func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
