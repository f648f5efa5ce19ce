package remotecall

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestRetryRetriesOnlyTransientFailures(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int // answers in order; the last one repeats
		wantCalls int32
		want      int
	}{
		{name: "success needs one attempt", statuses: []int{200}, wantCalls: 1, want: 200},
		{name: "5xx is retried until success", statuses: []int{503, 500, 200}, wantCalls: 3, want: 200},
		{name: "5xx stops after MaxAttempts", statuses: []int{502}, wantCalls: MaxAttempts, want: 502},
		{name: "501 is final", statuses: []int{501}, wantCalls: 1, want: 501},
		{name: "429 is final", statuses: []int{429}, wantCalls: 1, want: 429},
		{name: "401 is final", statuses: []int{401}, wantCalls: 1, want: 401},
		{name: "404 is final", statuses: []int{404}, wantCalls: 1, want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				n := int(calls.Add(1)) - 1
				w.WriteHeader(tt.statuses[min(n, len(tt.statuses)-1)])
			}))
			defer srv.Close()
			// A budget no test reaches: the attempts depend on the
			// answers alone, not on how busy the machine is.
			p := Retry{MaxDelay: 2 * time.Millisecond, Budget: time.Minute, AttemptTimeout: time.Minute}
			resp, err := p.Do(context.Background(), get(srv.URL))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want || calls.Load() != tt.wantCalls {
				t.Fatalf("status %d after %d calls, want %d after %d", resp.StatusCode, calls.Load(), tt.want, tt.wantCalls)
			}
		})
	}
}

// TestRetryStaysWithinBudget: against a server that never answers, the
// attempts' timeouts and the budget are the only ends there are. Each
// attempt is cut after 100ms, so the 300ms budget, not MaxAttempts, ends
// the call, with a timeout.
func TestRetryStaysWithinBudget(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release) // runs first, so that Close does not wait
	p := Retry{MaxDelay: 10 * time.Millisecond, Budget: 300 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond}
	_, err := p.Do(context.Background(), get(srv.URL))
	if err == nil || !outbound.IsTimeout(err) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if n := calls.Load(); n >= MaxAttempts {
		t.Fatalf("%d attempts: the budget did not end the retries", n)
	}
}

func TestRetryDoesNotRepeatARedirect(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Redirect(w, r, "http://127.0.0.1:1/", http.StatusFound)
	}))
	defer srv.Close()
	p := Retry{MaxDelay: time.Millisecond, Budget: time.Second, AttemptTimeout: time.Second}
	if _, err := p.Do(context.Background(), get(srv.URL)); !errors.Is(err, outbound.ErrRedirect) || calls.Load() != 1 {
		t.Fatalf("err = %v after %d calls", err, calls.Load())
	}
}

func TestRetryConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		c       RetryConfig
		timeout time.Duration
		want    Retry
		wantErr string
	}{
		{name: "defaults fit the check budget", want: Retry{MaxDelay: 100 * time.Millisecond, Budget: DefaultCallTimeout, AttemptTimeout: DefaultCallTimeout}},
		{name: "timeout bounds one attempt", timeout: 100 * time.Millisecond,
			want: Retry{MaxDelay: 100 * time.Millisecond, Budget: DefaultCallTimeout, AttemptTimeout: 100 * time.Millisecond}},
		{name: "a timeout above the default raises the budget", timeout: 200 * time.Millisecond,
			want: Retry{MaxDelay: 100 * time.Millisecond, Budget: 200 * time.Millisecond, AttemptTimeout: 200 * time.Millisecond}},
		{name: "a long timeout raises the default budget", timeout: 3 * time.Second,
			want: Retry{MaxDelay: 100 * time.Millisecond, Budget: 3 * time.Second, AttemptTimeout: 3 * time.Second}},
		{name: "explicit values are kept", c: RetryConfig{MaxDelay: pipeline.Duration(time.Second), GiveUpAfter: pipeline.Duration(5 * time.Second)},
			want: Retry{MaxDelay: time.Second, Budget: 5 * time.Second, AttemptTimeout: 5 * time.Second}},
		{name: "timeout above give_up_after is rejected", c: RetryConfig{GiveUpAfter: pipeline.Duration(time.Second)},
			timeout: 2 * time.Second, wantErr: "timeout: 2s exceeds retry.give_up_after"},
		{name: "negative max_delay is rejected", c: RetryConfig{MaxDelay: -1}, wantErr: "retry.max_delay: must not be negative"},
		{name: "negative give_up_after is rejected", c: RetryConfig{GiveUpAfter: -1}, wantErr: "retry.give_up_after: must not be negative"},
		{name: "negative timeout is rejected", timeout: -1, wantErr: "timeout: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate("retry", tt.timeout)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.c.Policy(tt.timeout); got != tt.want {
				t.Fatalf("Policy = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func get(url string) func(ctx context.Context) (*outbound.Response, error) {
	c := outbound.New(outbound.Options{})
	return func(ctx context.Context) (*outbound.Response, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		return c.Do(ctx, req, nil)
	}
}

func TestAuthorizerPolicy(t *testing.T) {
	if got, want := AuthorizerPolicy(nil, time.Second), (Retry{AttemptTimeout: time.Second}); got != want {
		t.Errorf("without a retry block: %+v, want one attempt %+v", got, want)
	}
	c := &RetryConfig{}
	if err := c.ValidateOptional("retry"); err != nil {
		t.Fatal(err)
	}
	// An attempt never outlasts give_up_after: 300ms is cut to the budget.
	want := Retry{MaxDelay: DefaultMaxDelay, Budget: DefaultGiveUpAfter, AttemptTimeout: DefaultGiveUpAfter,
		FirstDelay: 10 * time.Millisecond, Jitter: true}
	if got := AuthorizerPolicy(c, 300*time.Millisecond); got != want {
		t.Errorf("with defaults: %+v, want %+v", got, want)
	}
	c = &RetryConfig{GiveUpAfter: pipeline.Duration(100 * time.Millisecond), MaxDelay: pipeline.Duration(time.Second)}
	if err := c.ValidateOptional("retry"); err == nil || err.Error() != "retry.max_delay: 1s exceeds retry.give_up_after 100ms" {
		t.Errorf("max_delay above give_up_after: err = %v", err)
	}
}

func TestRetryWithoutBudgetMakesOneAttempt(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	resp, err := Retry{AttemptTimeout: time.Second}.Do(context.Background(), get(srv.URL))
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || calls.Load() != 1 {
		t.Fatalf("resp %v, err %v after %d calls, want one 503", resp, err, calls.Load())
	}
}

// TestRetryCutByTheBudgetReportsTheAnswerBefore: when the budget ends an
// attempt, the outcome is what the remote last said, not the cut, so a
// persistently failing remote maps the same however the timing falls.
//
// The retry runs on a fake clock: the second attempt is cut by moving it
// past the budget, as the attempt's timer would on the real one, so the
// outcome never depends on how busy the machine is.
func TestRetryCutByTheBudgetReportsTheAnswerBefore(t *testing.T) {
	var calls int
	clk := newTestClock()
	p := Retry{MaxDelay: time.Millisecond, Budget: 50 * time.Millisecond, AttemptTimeout: time.Second, Clock: clk}
	resp, err := p.Do(context.Background(), func(ctx context.Context) (*outbound.Response, error) {
		calls++
		if calls == 1 {
			return &outbound.Response{StatusCode: http.StatusServiceUnavailable}, nil
		}
		clk.Advance(time.Second)
		return nil, context.DeadlineExceeded
	})
	if err != nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || calls != 2 {
		t.Fatalf("resp %v, err %v after %d calls, want the first 503", resp, err, calls)
	}
}
