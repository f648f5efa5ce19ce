package remote

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// fastRetry pauses at most 5ms between attempts and gives up after a
// minute, which no test reaches: how many attempts are made never depends
// on how busy the machine is.
func fastRetry() *Retry {
	return &Retry{GiveUpAfter: pipeline.Duration(time.Minute), MaxDelay: pipeline.Duration(5 * time.Millisecond)}
}

func TestRetryOnlyOnConnectionErrorsAnd5xx(t *testing.T) {
	failFirst := func(code int) func(http.ResponseWriter, *http.Request, int32) {
		return func(w http.ResponseWriter, _ *http.Request, call int32) {
			if call == 1 {
				w.WriteHeader(code)
			}
		}
	}
	tests := []struct {
		name       string
		retry      *Retry
		respond    func(http.ResponseWriter, *http.Request, int32)
		wantStatus int
		wantCalls  int32
	}{
		{name: "503 then 200 is retried and allowed", retry: fastRetry(), respond: failFirst(503), wantStatus: 200, wantCalls: 2},
		{name: "502 then 200 is retried and allowed", retry: fastRetry(), respond: failFirst(502), wantStatus: 200, wantCalls: 2},
		{name: "without a retry block there is one attempt", respond: failFirst(503), wantStatus: 500, wantCalls: 1},
		{name: "403 is an answer, not retried", retry: fastRetry(), respond: failFirst(403), wantStatus: 403, wantCalls: 1},
		{name: "429 is an answer, not retried", retry: fastRetry(), respond: failFirst(429), wantStatus: 429, wantCalls: 1},
		{name: "501 is not retried", retry: fastRetry(), respond: failFirst(501), wantStatus: 500, wantCalls: 1},
		{name: "404 is not retried", retry: fastRetry(), respond: failFirst(404), wantStatus: 500, wantCalls: 1},
		{name: "dropped connection is retried", retry: fastRetry(), respond: func(w http.ResponseWriter, _ *http.Request, call int32) {
			if call == 1 {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			}
		}, wantStatus: 200, wantCalls: 2},
		{name: "persistent 503 stops after the attempt cap", retry: fastRetry(), respond: status(503), wantStatus: 500, wantCalls: remotecall.MaxAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, tt.respond)
			err := newAuthorizer(t, Config{Remote: f.URL, Retry: tt.retry}).Authorize(context.Background(), testRequest(), testSession())
			if got := pipeline.StatusOf(err); got != tt.wantStatus {
				t.Fatalf("status = %d (%v), want %d", got, err, tt.wantStatus)
			}
			if got := f.calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRetryResendsTheBody(t *testing.T) {
	f := newFakeRemote(t, func(w http.ResponseWriter, r *http.Request, call int32) {
		if call == 1 {
			w.WriteHeader(503)
		}
	})
	a := newAuthorizer(t, Config{Remote: f.URL, Retry: fastRetry()})
	if err := a.Authorize(context.Background(), testRequest(), testSession()); err != nil {
		t.Fatal(err)
	}
	if got := f.seen(); f.calls.Load() != 2 || got.body != "<order id='42'/>" {
		t.Errorf("calls %d, second attempt body = %q", f.calls.Load(), got.body)
	}
}

// TestRetryBudgetBoundsLatency: give_up_after bounds the whole call, even
// when an attempt's own timeout is longer. The remote never answers, so
// give_up_after is the only thing that can end the call.
func TestRetryBudgetBoundsLatency(t *testing.T) {
	release := make(chan struct{})
	f := newFakeRemote(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	a := newAuthorizer(t, Config{Remote: f.URL, Timeout: pipeline.Duration(time.Hour), Retry: &Retry{
		GiveUpAfter: pipeline.Duration(60 * time.Millisecond), MaxDelay: pipeline.Duration(50 * time.Millisecond)}})
	err := a.Authorize(context.Background(), testRequest(), testSession())
	if pipeline.StatusOf(err) != 503 || pipeline.ReasonOf(err, "") != "remote_unavailable" {
		t.Fatalf("err = %v, want 503 remote_unavailable", err)
	}
	if n := f.calls.Load(); n > 1 {
		t.Errorf("%d calls, want at most 1: the first attempt used the whole budget", n)
	}
}

// TestD05StatusIsTheOnlyDecision: for the status-based authorizer only a
// 200 allows, whatever the body says; every other answer denies
// (SECURITY_CASES D-05).
func TestD05StatusIsTheOnlyDecision(t *testing.T) {
	body := func(code int, b string) func(http.ResponseWriter, *http.Request, int32) {
		return func(w http.ResponseWriter, _ *http.Request, _ int32) {
			w.WriteHeader(code)
			w.Write([]byte(b))
		}
	}
	tests := []struct {
		name    string
		respond func(http.ResponseWriter, *http.Request, int32)
		allow   bool
		status  int
	}{
		{"200 with allow false in the body still allows: status decides", body(200, `{"allow":false}`), true, 200},
		{"200 empty body", body(200, ""), true, 200},
		{"201", body(201, `{"allow":true}`), false, 500},
		{"204", status(204), false, 500},
		{"302", func(w http.ResponseWriter, r *http.Request, _ int32) {
			http.Redirect(w, r, "http://127.0.0.66:9/latest/meta-data/", http.StatusFound)
		}, false, 500},
		{"429", status(429), false, 429},
		{"500", status(500), false, 500},
		{"200 with 5 MiB body", body(200, strings.Repeat(" ", 5<<20)), false, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, tt.respond)
			err := newAuthorizer(t, Config{Remote: f.URL}).Authorize(context.Background(), testRequest(), testSession())
			if (err == nil) != tt.allow || pipeline.StatusOf(err) != tt.status {
				t.Errorf("err = %v, want allow=%v status %d", err, tt.allow, tt.status)
			}
		})
	}
}

// TestD03RedirectTargetIsNeverContacted: a redirecting authorizer is an
// error, and the redirect target sees no request (SECURITY_CASES D-03).
func TestD03RedirectTargetIsNeverContacted(t *testing.T) {
	target := newFakeRemote(t, status(200))
	f := newFakeRemote(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
		http.Redirect(w, r, target.URL+"/latest/meta-data/", http.StatusFound)
	})
	err := newAuthorizer(t, Config{Remote: f.URL, Retry: fastRetry()}).Authorize(context.Background(), testRequest(), testSession())
	if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != "remote_unexpected_status" {
		t.Fatalf("err = %v", err)
	}
	if n := target.calls.Load(); n != 0 {
		t.Errorf("redirect target was contacted %d times", n)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("redirect was retried: %d calls", n)
	}
}
