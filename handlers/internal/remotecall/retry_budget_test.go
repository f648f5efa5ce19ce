package remotecall

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

// TestRetryNeverOutlastsTheDeadline: on a fake clock where every attempt
// takes 10ms and fails with a 503, the pauses are 10, 20, 40, 40ms, so the
// attempts run at [0,10], [20,30], [50,60], [100,110] and [150,160]. A
// retry starts only if its pause and another 10ms attempt fit before the
// deadline, whichever of the caller's deadline and give_up_after is
// nearer; each attempt's timeout is the smaller of its own and what is
// left.
func TestRetryNeverOutlastsTheDeadline(t *testing.T) {
	const took = 10 * time.Millisecond
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name     string
		deadline time.Duration // the caller's, from the start (0: none)
		budget   time.Duration // give_up_after
		want     int
	}{
		{name: "deadline before a second attempt fits", deadline: ms(30), budget: time.Second, want: 1},
		{name: "room for exactly two", deadline: ms(31), budget: time.Second, want: 2},
		{name: "still two", deadline: ms(60), budget: time.Second, want: 2},
		{name: "room for exactly three", deadline: ms(61), budget: time.Second, want: 3},
		{name: "room for exactly four", deadline: ms(111), budget: time.Second, want: 4},
		{name: "room for all five", deadline: ms(161), budget: time.Second, want: MaxAttempts},
		{name: "never more than MaxAttempts", budget: time.Hour, want: MaxAttempts},
		{name: "give_up_after bounds like a deadline", budget: ms(61), want: 3},
		{name: "the nearer of the two wins", deadline: ms(31), budget: ms(61), want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newTestClock()
			start := clk.Now()
			ctx := context.Background()
			var end time.Time // the nearer deadline
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.deadline))
				defer cancel()
				end = start.Add(tt.deadline)
			}
			if e := start.Add(tt.budget); end.IsZero() || e.Before(end) {
				end = e
			}
			const attemptTimeout = 40 * time.Millisecond
			p := Retry{MaxDelay: 40 * time.Millisecond, Budget: tt.budget, AttemptTimeout: attemptTimeout, Clock: clk}
			attempts := 0
			resp, err := p.Do(ctx, func(actx context.Context) (*outbound.Response, error) {
				attempts++
				now := clk.Now()
				dl, ok := actx.Deadline()
				if want := min(attemptTimeout, end.Sub(now)); !ok || dl.Sub(now) != want {
					t.Errorf("attempt %d at %v: timeout %v, want min(own, left) = %v", attempts, now.Sub(start), dl.Sub(now), want)
				}
				clk.Advance(took)
				return &outbound.Response{StatusCode: http.StatusServiceUnavailable}, nil
			})
			if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("got %v, %v; want the last 503", resp, err)
			}
			if attempts != tt.want {
				t.Fatalf("%d attempts, want %d", attempts, tt.want)
			}
			if spent := clk.Now().Sub(start); clk.Now().After(end) {
				t.Fatalf("spent %v, past the deadline %v", spent, end.Sub(start))
			}
		})
	}
}

func TestRetryStartsNoAttemptPastTheDeadline(t *testing.T) {
	clk := newTestClock()
	ctx, cancel := context.WithDeadline(context.Background(), clk.Now())
	defer cancel()
	p := Retry{MaxDelay: time.Millisecond, Budget: time.Second, AttemptTimeout: time.Second, Clock: clk}
	_, err := p.Do(ctx, func(context.Context) (*outbound.Response, error) {
		t.Fatal("an attempt started with no time left")
		return nil, nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

// TestRetryStopsWhenTheCircuitOpens: a circuit opened by the failures of
// this very call ends its retries at once, with what the remote last said;
// the next call is refused without an attempt.
func TestRetryStopsWhenTheCircuitOpens(t *testing.T) {
	w := newBreakerWorld()
	srv := newCountingServer(t, http.StatusServiceUnavailable)
	e := w.endpoint(t, srv.URL)
	e.Retry = Retry{MaxDelay: time.Millisecond, Budget: time.Hour, AttemptTimeout: time.Second, Clock: w.clk}
	e.Breaker = w.client.Breaker(e.URL, breakerSettings(2))
	if resp, err := post(e); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("got %v, %v; want the last 503", resp, err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("server hit %d times, want 2 (the threshold), not %d attempts", got, MaxAttempts)
	}
	if _, err := post(e); !errors.Is(err, outbound.ErrCircuitOpen) {
		t.Fatalf("next call: err = %v, want the circuit open", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("server hit %d times, want 2", got)
	}
}

// TestPostIsRetriedWithItsBody: lookups are POSTs that change nothing, so
// a retry resends the same body.
func TestPostIsRetriedWithItsBody(t *testing.T) {
	w := newBreakerWorld()
	srv, seen := newRecordingServer(t, http.StatusServiceUnavailable, http.StatusOK)
	e := w.endpoint(t, srv.URL)
	e.Retry = Retry{MaxDelay: time.Millisecond, Budget: time.Hour, AttemptTimeout: time.Second, Clock: w.clk}
	resp, err := post(e)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %v, %v; want the 200 of the second attempt", resp, err)
	}
	if bodies := seen(); len(bodies) != 2 || bodies[0] != "POST token=t" || bodies[1] != "POST token=t" {
		t.Fatalf("server saw %q, want the same POST twice", seen())
	}
}
