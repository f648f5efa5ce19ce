package keto

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// frozenClient is an outbound client whose circuit breakers see a clock
// that never moves, so an open circuit stays open however slow the test.
func frozenClient() *outbound.Client {
	now := time.Now()
	reg := breaker.NewRegistry(breaker.Options{Now: func() time.Time { return now }})
	return outbound.New(outbound.Options{Breakers: reg})
}

// scriptedKeto answers with codes in order, the last repeating, each with
// the same body.
type scriptedKeto struct {
	*httptest.Server
	calls atomic.Int32
}

func newScriptedKeto(t *testing.T, body string, codes ...int) *scriptedKeto {
	t.Helper()
	k := &scriptedKeto{}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		n := int(k.calls.Add(1))
		w.WriteHeader(codes[min(n, len(codes))-1])
		io.WriteString(w, body)
	}))
	t.Cleanup(k.Close)
	return k
}

// ketoConfig is a rule's config for the Keto at url. Its timeout is a
// minute rather than the default 150ms: no outcome here may depend on
// how busy the machine is.
func ketoConfig(url string) Config {
	return Config{BaseURL: url, RequiredAction: "read", RequiredResource: "orders", Timeout: pipeline.Duration(time.Minute)}
}

func authorize(t *testing.T, c Config, client *outbound.Client) error {
	t.Helper()
	a, err := New(c, client)
	if err != nil {
		t.Fatal(err)
	}
	return a.Authorize(context.Background(), request(), session())
}

// TestRetryBlockIsHonoured: the keto call is a POST but a lookup, so a
// retry block (a Portcullis addition) retries it like any other.
func TestRetryBlockIsHonoured(t *testing.T) {
	tests := []struct {
		name      string
		retry     *remotecall.RetryConfig
		wantErr   string
		wantCalls int32
	}{
		{name: "without a retry block there is one attempt", wantErr: "keto_unexpected_status", wantCalls: 1},
		{name: "a retry block retries the 503", retry: &remotecall.RetryConfig{MaxDelay: pipeline.Duration(time.Millisecond), GiveUpAfter: pipeline.Duration(time.Minute)}, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newScriptedKeto(t, `{"allowed":true}`, http.StatusServiceUnavailable, http.StatusOK)
			c := ketoConfig(k.URL)
			c.Retry = tt.retry
			err := authorize(t, c, frozenClient())
			if got := pipeline.ReasonOf(err, ""); got != tt.wantErr {
				t.Fatalf("err = %v, want reason %q", err, tt.wantErr)
			}
			if got := k.calls.Load(); got != tt.wantCalls {
				t.Fatalf("%d calls, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestCircuitOpensOnFailuresOnly(t *testing.T) {
	t.Run("5xx opens it", func(t *testing.T) {
		k := newScriptedKeto(t, "", http.StatusInternalServerError)
		client := frozenClient()
		for range breaker.DefaultConsecutiveFailures {
			_ = authorize(t, ketoConfig(k.URL), client)
		}
		err := authorize(t, ketoConfig(k.URL), client)
		if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != "keto_circuit_open" {
			t.Fatalf("err = %v, want 503 keto_circuit_open", err)
		}
		if got := k.calls.Load(); got != breaker.DefaultConsecutiveFailures {
			t.Fatalf("%d calls, want %d", got, breaker.DefaultConsecutiveFailures)
		}
	})
	for _, tt := range []struct {
		name, body string
		code       int
	}{
		{"allowed false never opens it", `{"allowed":false}`, http.StatusOK},
		{"403 never opens it", "", http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newScriptedKeto(t, tt.body, tt.code)
			client := frozenClient()
			c := ketoConfig(k.URL)
			c.CircuitBreaker.ConsecutiveFailures = 1
			for range 5 {
				if err := authorize(t, c, client); pipeline.ReasonOf(err, "") != "keto_denied" {
					t.Fatalf("err = %v, want keto_denied", err)
				}
			}
			if got := k.calls.Load(); got != 5 {
				t.Fatalf("%d calls, want 5", got)
			}
		})
	}
}

func TestRetryAndCircuitBreakerKeysAreValidated(t *testing.T) {
	tests := []struct {
		key     string
		value   any
		wantErr string
	}{
		{"retry", map[string]any{"max_delay": "2s", "give_up_after": "1s"}, "retry.max_delay: 2s exceeds retry.give_up_after 1s"},
		{"circuit_breaker", map[string]any{"open_for": "-1s"}, "circuit_breaker.open_for: must not be negative"},
		{"circuit_breaker", map[string]any{"consecutive_failures": -2}, "circuit_breaker.consecutive_failures: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.wantErr, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(map[string]any{"base_url": "http://keto.test/", "required_action": "a",
				"required_resource": "r", tt.key: tt.value}).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
