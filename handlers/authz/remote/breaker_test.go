package remote

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestCircuitOpensOnFailuresNotOnDenials: a 403 is the authorizer's
// decision and never opens the circuit; 5xx answers do, and then the
// remote is not called until the open period ends.
func TestCircuitOpensOnFailuresNotOnDenials(t *testing.T) {
	now := time.Now() // the circuits' clock never moves: an open circuit stays open
	client := outbound.New(outbound.Options{Breakers: breaker.NewRegistry(breaker.Options{Now: func() time.Time { return now }})})
	authorize := func(url string) error {
		a, err := New(Config{Remote: url, Timeout: pipeline.Duration(time.Minute)}, client)
		if err != nil {
			t.Fatal(err)
		}
		return a.Authorize(context.Background(), testRequest(), testSession())
	}

	deny := newFakeRemote(t, status(http.StatusForbidden))
	for range 2 * breaker.DefaultConsecutiveFailures {
		if err := authorize(deny.URL); pipeline.ReasonOf(err, "") != "remote_denied" {
			t.Fatalf("err = %v, want remote_denied", err)
		}
	}
	if got := deny.calls.Load(); got != 2*breaker.DefaultConsecutiveFailures {
		t.Fatalf("%d calls, want every denial asked", got)
	}

	down := newFakeRemote(t, status(http.StatusBadGateway))
	for range breaker.DefaultConsecutiveFailures {
		_ = authorize(down.URL)
	}
	err := authorize(down.URL)
	if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != "remote_circuit_open" {
		t.Fatalf("err = %v, want 503 remote_circuit_open", err)
	}
	if got := down.calls.Load(); got != breaker.DefaultConsecutiveFailures {
		t.Fatalf("%d calls, want %d", got, breaker.DefaultConsecutiveFailures)
	}
}
