package session

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestSessionStoreCircuit: a store that fails (5xx, here) opens the
// circuit of check_session_url, which then fails fast with a 503 without
// calling it, whatever path the call would have asked (preserve_path:
// false); a store that answers "no session" never opens it.
func TestSessionStoreCircuit(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		wantOpen bool
	}{
		{name: "5xx opens it", status: http.StatusBadGateway, wantOpen: true},
		{name: "401 never opens it", status: http.StatusUnauthorized},
		{name: "403 never opens it", status: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t, tt.status, "")
			now := time.Now() // the circuits' clock never moves: an open circuit stays open
			client := outbound.New(outbound.Options{Breakers: breaker.NewRegistry(breaker.Options{Now: func() time.Time { return now }})})
			o := options(st.URL + "/sessions/whoami")
			o.ReplacePath = true // every call asks another path of the store
			c, err := New(o, client, nil)
			if err != nil {
				t.Fatal(err)
			}
			check := func(path string) error {
				r := request(pipeline.Header{"cookie": {"session=abc"}})
				r.Path, r.RawPath = path, path
				return c.Authenticate(context.Background(), r, &pipeline.Session{})
			}
			const n = breaker.DefaultConsecutiveFailures
			for i := range n {
				if err := check("/a/" + string(rune('0'+i))); pipeline.ReasonOf(err, "") == IDCircuitOpen {
					t.Fatalf("call %d: circuit open too early", i)
				}
			}
			err = check("/b")
			calls, _, _ := st.seen()
			if !tt.wantOpen {
				if pipeline.ReasonOf(err, "") == IDCircuitOpen || calls != n+1 {
					t.Fatalf("err = %v after %d calls, want every call sent", err, calls)
				}
				return
			}
			if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != IDCircuitOpen {
				t.Fatalf("err = %v, want 503 %s", err, IDCircuitOpen)
			}
			if calls != n {
				t.Fatalf("%d calls, want %d: the open circuit sent a call", calls, n)
			}
		})
	}
}
