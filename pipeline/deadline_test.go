package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// endingCtx is a check's context that a handler ends on purpose, the way
// a deadline or a caller going away would end it while the handler runs.
type endingCtx struct {
	context.Context
	mu  sync.Mutex
	err error
}

type endingKey struct{}

func (c *endingCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *endingCtx) Value(k any) any {
	if k == (endingKey{}) {
		return c
	}
	return c.Context.Value(k)
}

func (c *endingCtx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// endConfig is the config of the "end" test handlers: the context error
// they end the check with ("" leaves it running) and whether they then
// fail with a reason of their own.
type endConfig struct {
	End  string `json:"end"`
	Fail bool   `json:"fail"`
}

func (endConfig) Validate() error { return nil }

func endHandler(ctx context.Context, c endConfig) error {
	switch c.End {
	case "deadline":
		ctx.Value(endingKey{}).(*endingCtx).end(context.DeadlineExceeded)
	case "canceled":
		ctx.Value(endingKey{}).(*endingCtx).end(context.Canceled)
	}
	if c.Fail {
		return pipeline.Forbidden("dependency_timeout", "the dependency did not answer in time", ctx.Err())
	}
	return nil
}

// TestEndedCheckAnswersForTheEnd covers issue #9 item 1 in the pipeline: a
// check whose context ended answers 503 with reason deadline (the budget
// is spent) or request_canceled (the caller went away), whatever the
// handler running at that moment made of it, and never allows.
func TestEndedCheckAnswersForTheEnd(t *testing.T) {
	reg := registry()
	pipeline.RegisterAuthenticator(reg, "end", func(c endConfig) (pipeline.Authenticator, error) {
		return pipeline.AuthenticatorFunc(func(ctx context.Context, _ *pipeline.Request, s *pipeline.Session) error {
			s.Subject = "alice"
			return endHandler(ctx, c)
		}), nil
	})
	pipeline.RegisterMutator(reg, "end", func(c endConfig) (pipeline.Mutator, error) {
		return pipeline.MutatorFunc(func(ctx context.Context, _ *pipeline.Request, _ *pipeline.Session) error {
			return endHandler(ctx, c)
		}), nil
	})
	cfg := config()
	on := map[string]pipeline.HandlerConfig{"fake": {Enabled: true}, "end": {Enabled: true}}
	cfg.Authenticators, cfg.Mutators = on, on
	spec := func(id string, authn, mut map[string]any) pipeline.RuleSpec {
		r := rule(id, "https://api.test/"+id, []pipeline.HandlerSpec{{Handler: "end", Config: authn}})
		r.Mutators = []pipeline.HandlerSpec{{Handler: "end", Config: mut}}
		return r
	}
	snap, err := pipeline.Compile([]pipeline.RuleSpec{
		spec("authn-times-out", map[string]any{"end": "deadline", "fail": true}, nil),
		spec("authn-canceled", map[string]any{"end": "canceled", "fail": true}, nil),
		spec("authn-fails", map[string]any{"fail": true}, nil),
		spec("mutator-outlives", nil, map[string]any{"end": "deadline"}),
		spec("fine", nil, nil),
	}, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
	defer cancel()
	gone, cancelGone := context.WithCancel(context.Background())
	cancelGone()

	tests := []struct {
		name        string
		ctx         context.Context // nil: a running endingCtx
		path        string
		wantStatus  int
		wantReason  string
		wantHandler string
	}{
		{"budget spent before matching", past, "/fine", http.StatusServiceUnavailable, pipeline.ReasonDeadline, ""},
		{"caller gone before matching", gone, "/fine", http.StatusServiceUnavailable, pipeline.ReasonCanceled, ""},
		{"handler cut off by the deadline", nil, "/authn-times-out", http.StatusServiceUnavailable, pipeline.ReasonDeadline, "end"},
		{"handler cut off by the caller leaving", nil, "/authn-canceled", http.StatusServiceUnavailable, pipeline.ReasonCanceled, "end"},
		{"handler failing in time keeps its reason", nil, "/authn-fails", http.StatusForbidden, "dependency_timeout", "end"},
		{"allow computed after the deadline", nil, "/mutator-outlives", http.StatusServiceUnavailable, pipeline.ReasonDeadline, ""},
		{"in time", nil, "/fine", http.StatusOK, pipeline.ReasonAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = &endingCtx{Context: context.Background()}
			}
			d := snap.Execute(ctx, get(tt.path))
			status := http.StatusOK
			if !d.Allowed {
				status = d.Denial.Status
			}
			if status != tt.wantStatus || d.Reason != tt.wantReason || d.Handler != tt.wantHandler {
				t.Fatalf("got status %d reason %q handler %q (err %v); want %d %q %q",
					status, d.Reason, d.Handler, d.Err, tt.wantStatus, tt.wantReason, tt.wantHandler)
			}
			if tt.wantHandler != "" && tt.wantStatus == http.StatusServiceUnavailable && pipeline.ReasonOf(errors.Unwrap(d.Err), "") != "dependency_timeout" {
				t.Fatalf("err %v: the handler's own failure is lost for the log", d.Err)
			}
		})
	}
}
