package remotecall

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/breaker"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Retry defaults. max_delay is Oathkeeper's; give_up_after is not (its
// schema says 1s): every attempt must fit in the check's default budget
// (180ms), so a retry block without give_up_after gives up with a single
// call's default timeout.
const (
	DefaultMaxDelay    = 100 * time.Millisecond
	DefaultGiveUpAfter = DefaultCallTimeout
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

// TimeoutEvidence is how long an attempt must have been given for its
// timeout to count against the endpoint's circuit breaker when its own
// timeout is longer: an attempt cut short because the request it serves
// had almost no time left says nothing about the dependency, while one
// that waited this long for an answer under an authorization deadline has
// met a dependency too slow to use.
const TimeoutEvidence = 100 * time.Millisecond

// Retry runs a remote call with bounded retries. The zero value of the
// optional fields gives the backoff of the authenticators and the
// hydrator: from MaxDelay/4, doubling up to MaxDelay, without jitter.
type Retry struct {
	// MaxDelay caps the pause between attempts.
	MaxDelay time.Duration
	// Budget is the deadline of the whole call; zero means a single
	// attempt, bounded only by AttemptTimeout.
	Budget time.Duration
	// AttemptTimeout is the deadline of one attempt; the caller's deadline
	// (the decision's budget) may cut it shorter.
	AttemptTimeout time.Duration
	// FirstDelay is the first pause (default MaxDelay/4, at least 1ms).
	FirstDelay time.Duration
	// Jitter shortens each pause to a random length between half and all
	// of it, so that callers that failed together do not retry together.
	Jitter bool
	// Clock measures and waits (nil: the system clock). Tests inject one.
	Clock Clock
}

// Clock is the time source of Retry.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep pauses for d or until ctx is done, and reports whether the
	// whole pause passed.
	Sleep(ctx context.Context, d time.Duration) bool
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Do calls attempt until it succeeds, returns an answer that is not worth
// retrying, or the budget or MaxAttempts is used up. Transport errors
// (including a timed-out attempt) and 5xx answers other than 501 are
// retried; any 4xx, 429 included, is final, and so are a refused redirect
// and an oversized body, because retrying a rejection or a rate limit
// only adds load.
//
// Every attempt runs within ctx's deadline (the decision's budget) and the
// Budget: its timeout is the smaller of AttemptTimeout and what is left.
// No attempt starts once the deadline has passed, and a retry starts only
// when its pause and an attempt as long as the one that just failed fit
// in what is left, so retries never outlast the budget and never send a
// request that could only be cut off.
//
// It returns the last answer or error, except that a retry cut short by
// the deadline (the budget's or ctx's) reports the failure before it, an
// error or a 5xx answer: that is what the remote last said, where the cut
// says only that time ran out, and it keeps the outcome of a persistently
// failing remote from depending on timing.
//
// A call whose first attempt the circuit breaker refuses was never sent
// and ends with that refusal; a retry it refuses (the failures of this
// call or of concurrent ones opened the circuit) ends the call with the
// failure before it, as a cut retry does.
func (p Retry) Do(ctx context.Context, attempt func(ctx context.Context) (*outbound.Response, error)) (*outbound.Response, error) {
	return p.DoWithBreaker(ctx, nil, attempt)
}

// DoWithBreaker is Do with every attempt guarded by the endpoint's circuit
// breaker b (nil: none): a refused first attempt ends the call with an
// error wrapping outbound.ErrCircuitOpen, a refused retry with the failure
// before it, and the outcome of every attempt made is reported to b.
func (p Retry) DoWithBreaker(ctx context.Context, b *breaker.Breaker, attempt func(ctx context.Context) (*outbound.Response, error)) (*outbound.Response, error) {
	clk := p.Clock
	if clk == nil {
		clk = systemClock{}
	}
	attempts := 1
	if p.Budget > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(p.Budget))
		defer cancel()
		attempts = MaxAttempts
	}
	maxDelay := max(p.MaxDelay, time.Millisecond)
	delay := p.FirstDelay
	if delay <= 0 {
		delay = max(p.MaxDelay/4, time.Millisecond)
	}
	delay = min(delay, maxDelay)
	var prevResp *outbound.Response
	var prevErr error
	for n := 1; ; n++ {
		start := clk.Now()
		resp, err := p.try(ctx, b, start, attempt)
		if errors.Is(err, breaker.ErrOpen) {
			if n > 1 {
				// This call's own failures opened the circuit: what the
				// remote said is the news, not the circuit.
				return prevResp, prevErr
			}
			return nil, err
		}
		done := ctx.Err() != nil || expired(ctx, clk.Now())
		if err != nil && n > 1 && done {
			return prevResp, prevErr
		}
		if !retryable(resp, err) || n == attempts || done {
			return resp, err
		}
		prevResp, prevErr = resp, err
		wait := delay
		if p.Jitter {
			wait = wait/2 + rand.N(wait/2+1)
		}
		if dl, ok := ctx.Deadline(); ok {
			now := clk.Now()
			if !now.Add(wait + now.Sub(start)).Before(dl) {
				return resp, err
			}
		}
		if !clk.Sleep(ctx, wait) {
			return resp, err
		}
		delay = min(delay*2, maxDelay)
	}
}

// try makes one attempt, begun at start, if there is time left and the
// circuit breaker allows it, and reports its outcome to the breaker.
func (p Retry) try(ctx context.Context, b *breaker.Breaker, start time.Time, attempt func(ctx context.Context) (*outbound.Response, error)) (*outbound.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if expired(ctx, start) {
		return nil, context.DeadlineExceeded
	}
	permit, err := b.Allow()
	if err != nil {
		return nil, err
	}
	actx := ctx
	if p.AttemptTimeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithDeadline(ctx, start.Add(p.AttemptTimeout))
		defer cancel()
	}
	// An attempt that panics says nothing about the endpoint but must
	// still free a half-open circuit's probe.
	outcome := breaker.Ignored
	defer func() { permit.Done(outcome) }()
	resp, err := attempt(actx)
	outcome = p.outcome(ctx, start, resp, err)
	return resp, err
}

// outcome judges an attempt for the circuit breaker. Transport errors and
// 5xx answers but 501 are failures, like the attempts worth retrying; any
// other answer, a refused redirect or oversized body included, shows a
// live endpoint. An attempt the caller abandoned is not judged, and a
// timeout counts only if the attempt was given its whole AttemptTimeout
// or at least TimeoutEvidence (see there).
func (p Retry) outcome(ctx context.Context, start time.Time, resp *outbound.Response, err error) breaker.Outcome {
	switch {
	case err == nil && resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return breaker.Failure
	case err == nil, errors.Is(err, outbound.ErrRedirect), errors.Is(err, outbound.ErrBodyTooLarge):
		return breaker.Success
	case errors.Is(err, context.Canceled), errors.Is(ctx.Err(), context.Canceled):
		return breaker.Ignored
	case outbound.IsTimeout(err):
		need := TimeoutEvidence
		given := time.Duration(1<<63 - 1)
		if p.AttemptTimeout > 0 {
			need, given = min(need, p.AttemptTimeout), p.AttemptTimeout
		}
		if dl, ok := ctx.Deadline(); ok {
			given = min(given, dl.Sub(start))
		}
		if given < need {
			return breaker.Ignored
		}
	}
	return breaker.Failure
}

// expired reports whether ctx's deadline is not after now.
func expired(ctx context.Context, now time.Time) bool {
	dl, ok := ctx.Deadline()
	return ok && !now.Before(dl)
}

func retryable(resp *outbound.Response, err error) bool {
	if err != nil {
		// A refused redirect or an oversized body repeats on every try.
		return !errors.Is(err, outbound.ErrRedirect) && !errors.Is(err, outbound.ErrBodyTooLarge)
	}
	return resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented
}
