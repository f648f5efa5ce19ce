package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// recorder is a StepObserver that writes each step and outcome down.
type recorder struct {
	mu    sync.Mutex
	steps []string
	marks []string
}

func (rec *recorder) StartStep(ctx context.Context, s pipeline.Step) (context.Context, func(error)) {
	rec.mu.Lock()
	rec.marks = append(rec.marks, s.Handler)
	rec.mu.Unlock()
	return ctx, func(err error) {
		outcome := "ok"
		switch {
		case errors.Is(err, pipeline.ErrSkip):
			outcome = "skip"
		case err != nil:
			outcome = pipeline.ReasonOf(err, "error")
		}
		rec.mu.Lock()
		rec.steps = append(rec.steps, fmt.Sprintf("%s %s[%d] %s %s", s.RuleID, s.Kind, s.Index, s.Handler, outcome))
		rec.mu.Unlock()
	}
}

// TestStepObserverSeesEveryHandlerInOrder: the one hook metrics, tracing
// and explain use reports each handler call with its outcome, and the
// start and end pair up.
func TestStepObserverSeesEveryHandlerInOrder(t *testing.T) {
	deny := rule("deny", "https://api.test/deny", []pipeline.HandlerSpec{h("a", "")})
	deny.Authorizer = &pipeline.HandlerSpec{Handler: "fake", Config: map[string]any{"tag": "z", "outcome": "403"}}
	snap := mustCompile(t,
		rule("ok", "https://api.test/ok", []pipeline.HandlerSpec{h("a", "skip"), h("b", "")}),
		deny)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/ok", []string{"ok authenticator[0] fake skip", "ok authenticator[1] fake ok", "ok authorizer[0] fake ok", "ok mutator[0] fake ok"}},
		{"/deny", []string{"deny authenticator[0] fake ok", "deny authorizer[0] fake error", "deny error_handler[0] fake ok"}},
	} {
		rec := &recorder{}
		var tr []string
		ctx := context.WithValue(pipeline.WithStepObserver(context.Background(), rec), traceKey{}, &tr)
		snap.Execute(ctx, get(tc.path))
		if fmt.Sprint(rec.steps) != fmt.Sprint(tc.want) {
			t.Errorf("%s: steps\n got %q\nwant %q", tc.path, rec.steps, tc.want)
		}
		if len(rec.marks) != len(tc.want) {
			t.Errorf("%s: %d steps started, want %d", tc.path, len(rec.marks), len(tc.want))
		}
	}
	// Without an observer nothing breaks.
	if d, _ := run(t, snap, get("/ok")); !d.Allowed {
		t.Errorf("without observer: %+v", d)
	}
}
