package remotecall

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// authorizerFirstDelay is the first pause of the remote authorizers'
// backoff (AuthorizerPolicy).
const authorizerFirstDelay = 10 * time.Millisecond

// RetryConfig is Oathkeeper's retry block (oauth2_introspection,
// oauth2_client_credentials, hydrator, remote, remote_json).
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

// ValidateOptional is Validate for the optional retry block of the remote
// authorizers, whose timeout bounds each attempt on its own: it applies the
// same defaults and also rejects a max_delay above give_up_after, a pause
// that could never be waited for.
func (c *RetryConfig) ValidateOptional(prefix string) error {
	if err := c.Validate(prefix, 0); err != nil {
		return err
	}
	if c.MaxDelay > c.GiveUpAfter {
		return fmt.Errorf("%s.max_delay: %s exceeds %s.give_up_after %s", prefix, c.MaxDelay.Std(), prefix, c.GiveUpAfter.Std())
	}
	return nil
}

// AuthorizerPolicy returns the policy of a remote authorizer: without a
// retry block (c nil) a single attempt bounded by timeout; with one,
// attempts bounded by timeout within give_up_after, with a jittered
// backoff that starts at 10ms. c must have been checked with
// ValidateOptional.
func AuthorizerPolicy(c *RetryConfig, timeout time.Duration) Retry {
	if c == nil {
		return Retry{AttemptTimeout: timeout}
	}
	p := c.Policy(timeout)
	p.FirstDelay, p.Jitter = authorizerFirstDelay, true
	return p
}

// Retry runs a remote call with bounded retries. The zero value of the
// optional fields gives the backoff of the authenticators and the
// hydrator: from MaxDelay/4, doubling up to MaxDelay, without jitter.
type Retry struct {
	// MaxDelay caps the pause between attempts.
	MaxDelay time.Duration
	// Budget is the deadline of the whole call; zero means a single
	// attempt, bounded only by AttemptTimeout.
	Budget time.Duration
	// AttemptTimeout is the deadline of one attempt.
	AttemptTimeout time.Duration
	// FirstDelay is the first pause (default MaxDelay/4, at least 1ms).
	FirstDelay time.Duration
	// Jitter shortens each pause to a random length between half and all
	// of it, so that callers that failed together do not retry together.
	Jitter bool
}

// Do calls attempt until it succeeds, returns an answer that is not worth
// retrying, or the budget or MaxAttempts is used up. Transport errors
// (including a timed-out attempt) and 5xx answers other than 501 are
// retried; any 4xx, 429 included, is final, and so are a refused redirect
// and an oversized body, because retrying a rejection or a rate limit
// only adds load. It returns the last answer or error, except that a retry
// cut short by the deadline (the budget's or ctx's) reports the failure
// before it, an error or a 5xx answer: that is what the remote last said,
// where the cut says only that time ran out, and it keeps the outcome of a
// persistently failing remote from depending on timing.
func (p Retry) Do(ctx context.Context, attempt func(ctx context.Context) (*outbound.Response, error)) (*outbound.Response, error) {
	if p.Budget <= 0 {
		ctx, cancel := context.WithTimeout(ctx, p.AttemptTimeout)
		defer cancel()
		return attempt(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, p.Budget)
	defer cancel()
	maxDelay := max(p.MaxDelay, time.Millisecond)
	delay := p.FirstDelay
	if delay <= 0 {
		delay = max(p.MaxDelay/4, time.Millisecond)
	}
	delay = min(delay, maxDelay)
	var prevResp *outbound.Response
	var prevErr error
	for n := 1; ; n++ {
		actx, acancel := context.WithTimeout(ctx, p.AttemptTimeout)
		resp, err := attempt(actx)
		acancel()
		if err != nil && ctx.Err() != nil && n > 1 {
			return prevResp, prevErr
		}
		if !retryable(resp, err) || n == MaxAttempts || ctx.Err() != nil {
			return resp, err
		}
		prevResp, prevErr = resp, err
		wait := delay
		if p.Jitter {
			wait = wait/2 + rand.N(wait/2+1)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return resp, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, err
		case <-t.C:
		}
		delay = min(delay*2, maxDelay)
	}
}

func retryable(resp *outbound.Response, err error) bool {
	if err != nil {
		// A refused redirect or an oversized body repeats on every try.
		return !errors.Is(err, outbound.ErrRedirect) && !errors.Is(err, outbound.ErrBodyTooLarge)
	}
	return resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented
}
