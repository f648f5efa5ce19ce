package hydrator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestCircuitIsTheConfiguredURLs: every call adds the request's query to
// api.url, but the circuit is api.url's: failures of calls with different
// queries open one circuit, and the open circuit refuses them all.
func TestCircuitIsTheConfiguredURLs(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ []byte, _ int) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	now := time.Now() // the circuits' clock never moves: an open circuit stays open
	client := outbound.New(outbound.Options{Breakers: breaker.NewRegistry(breaker.Options{Now: func() time.Time { return now }})})
	m := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL + "/hydrate?tenant=a",
		"retry":           map[string]any{"max_delay": "1ms", "give_up_after": "1m"},
		"circuit_breaker": map[string]any{"consecutive_failures": 3}}}, client, nil)
	mutate := func(query string) error {
		r, s := fixture()
		r.RawQuery = query
		return m.Mutate(context.Background(), r, s)
	}
	// One call retries: the three failures in a row open the circuit and
	// end the call, which reports the last one.
	if err := mutate("page=1"); pipeline.ReasonOf(err, "") != "hydrator_unexpected_status" {
		t.Fatalf("err = %v, want hydrator_unexpected_status", err)
	}
	if rec.count() != 3 {
		t.Fatalf("%d calls, want 3", rec.count())
	}
	err := mutate("page=2")
	if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != "hydrator_circuit_open" {
		t.Fatalf("other query: err = %v, want 503 hydrator_circuit_open", err)
	}
	if rec.count() != 3 {
		t.Fatalf("%d calls, want 3: the open circuit sent a call", rec.count())
	}
}

func TestCircuitBreakerKeysAreValidated(t *testing.T) {
	_, err := decode(t, map[string]any{"api": map[string]any{"url": "https://hydrator.test/",
		"circuit_breaker": map[string]any{"open_for": "90s"}}})
	if err == nil || !strings.Contains(err.Error(), "api.circuit_breaker.open_for: 1m30s exceeds the maximum 1m0s") {
		t.Fatalf("err = %v", err)
	}
}
