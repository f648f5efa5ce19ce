package remotejson

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestCircuitOpensOnFailuresNotOnDecisions: a negative decision (403, or
// a 200 whose decision_path is false) never opens the circuit; 5xx
// answers do, and then the remote is not called.
func TestCircuitOpensOnFailuresNotOnDecisions(t *testing.T) {
	now := time.Now() // the circuits' clock never moves: an open circuit stays open
	client := outbound.New(outbound.Options{Breakers: breaker.NewRegistry(breaker.Options{Now: func() time.Time { return now }})})
	authorize := func(url, decisionPath string) error {
		a, err := New(Config{Remote: url, Payload: `{"sub":"alice"}`, DecisionPath: decisionPath, Timeout: pipeline.Duration(time.Minute),
			CircuitBreaker: remotecall.BreakerConfig{ConsecutiveFailures: 1}}, client)
		if err != nil {
			t.Fatal(err)
		}
		return a.Authorize(context.Background(), testRequest(), testSession())
	}
	for _, tt := range []struct {
		name, path string
		respond    func(http.ResponseWriter, *http.Request, int32)
		wantReason string
	}{
		{"403", "", answer(http.StatusForbidden, ""), "remote_json_denied"},
		{"decision false", "allow", answer(http.StatusOK, `{"allow":false}`), "remote_json_denied"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, tt.respond)
			for range 3 {
				if err := authorize(f.URL, tt.path); pipeline.ReasonOf(err, "") != tt.wantReason {
					t.Fatalf("err = %v, want %s", err, tt.wantReason)
				}
			}
			if got := f.calls.Load(); got != 3 {
				t.Fatalf("%d calls, want 3", got)
			}
		})
	}
	t.Run("5xx", func(t *testing.T) {
		f := newFakeRemote(t, answer(http.StatusServiceUnavailable, ""))
		_ = authorize(f.URL, "")
		err := authorize(f.URL, "")
		if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != "remote_json_circuit_open" {
			t.Fatalf("err = %v, want 503 remote_json_circuit_open", err)
		}
		if got := f.calls.Load(); got != 1 {
			t.Fatalf("%d calls, want 1", got)
		}
	})
}
