package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Retry defaults: Oathkeeper's schema defaults for the retry block.
const (
	DefaultMaxDelay    = 100 * time.Millisecond
	DefaultGiveUpAfter = time.Second
	// MaxAttempts bounds the attempts of one call, as Oathkeeper's
	// resilient client does (one try plus four retries).
	MaxAttempts = 5
)

// RetryConfig is Oathkeeper's retry block of oauth2_introspection and
// oauth2_client_credentials.
//
// Oathkeeper maps give_up_after to the longest pause between retries and
// multiplies max_delay by a millisecond by mistake, so its calls have no
// effective deadline. Portcullis gives the keys a bounded meaning:
// give_up_after is the deadline of the whole call, retries included, and
// max_delay caps the pause between two attempts.
type RetryConfig struct {
	// MaxDelay caps the backoff between attempts (default 100ms).
	MaxDelay pipeline.Duration `json:"max_delay"`
	// GiveUpAfter is the deadline for all attempts together (default 1s).
	GiveUpAfter pipeline.Duration `json:"give_up_after"`
}

// Policy returns the retry policy for a per-attempt timeout; the caller
// has applied defaults with Validate. A zero timeout means one attempt
// may use the whole budget.
func (c RetryConfig) Policy(timeout time.Duration) Retry {
	if timeout <= 0 || timeout > c.GiveUpAfter.Std() {
		timeout = c.GiveUpAfter.Std()
	}
	return Retry{MaxDelay: c.MaxDelay.Std(), Budget: c.GiveUpAfter.Std(), AttemptTimeout: timeout}
}

// Validate applies defaults and checks the values against the handler's
// per-attempt timeout (0 when unset). prefix names the block in messages.
func (c *RetryConfig) Validate(prefix string, timeout time.Duration) error {
	switch {
	case c.MaxDelay < 0:
		return fmt.Errorf("%s.max_delay: must not be negative", prefix)
	case c.GiveUpAfter < 0:
		return fmt.Errorf("%s.give_up_after: must not be negative", prefix)
	case timeout < 0:
		return fmt.Errorf("timeout: must not be negative")
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = pipeline.Duration(DefaultMaxDelay)
	}
	if c.GiveUpAfter == 0 {
		c.GiveUpAfter = pipeline.Duration(max(DefaultGiveUpAfter, timeout))
	}
	if timeout > c.GiveUpAfter.Std() {
		return fmt.Errorf("timeout: %s exceeds %s.give_up_after (%s), the deadline of the whole call", timeout, prefix, c.GiveUpAfter.Std())
	}
	return nil
}

// Retry runs a remote call with bounded retries.
type Retry struct {
	// MaxDelay caps the pause between attempts.
	MaxDelay time.Duration
	// Budget is the deadline of the whole call.
	Budget time.Duration
	// AttemptTimeout is the deadline of one attempt.
	AttemptTimeout time.Duration
}

// Do calls attempt until it succeeds, returns an answer that is not worth
// retrying, or the budget or MaxAttempts is used up. Transport errors
// (including a timed-out attempt) and 5xx answers other than 501 are
// retried; any 4xx, 429 included, is final, and so are a refused redirect
// and an oversized body, because retrying a rejection or
// a rate limit only adds load. It returns the last answer or error.
func (p Retry) Do(ctx context.Context, attempt func(ctx context.Context) (*outbound.Response, error)) (*outbound.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	delay := max(p.MaxDelay/4, time.Millisecond)
	var prevErr error
	for n := 1; ; n++ {
		actx, acancel := context.WithTimeout(ctx, p.AttemptTimeout)
		resp, err := attempt(actx)
		acancel()
		// An attempt cut short by the overall budget says less than the
		// failure before it (e.g. "connection refused"), so report that.
		if err != nil && ctx.Err() != nil && prevErr != nil {
			return nil, prevErr
		}
		if !retryable(resp, err) || n == MaxAttempts || ctx.Err() != nil {
			return resp, err
		}
		if err != nil {
			prevErr = err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
			return resp, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, err
		case <-t.C:
		}
		delay = min(delay*2, max(p.MaxDelay, time.Millisecond))
	}
}

func retryable(resp *outbound.Response, err error) bool {
	if err != nil {
		// A refused redirect or an oversized body repeats on every try.
		return !errors.Is(err, outbound.ErrRedirect) && !errors.Is(err, outbound.ErrBodyTooLarge)
	}
	return resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented
}
