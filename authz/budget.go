package authz

import (
	"context"
	"sync"
	"time"
)

// Defaults of the check budget (serve.check_timeout, serve.deadline_margin).
// Envoy gives an ext_authz call 200ms unless configured otherwise and
// treats a missed deadline as an error, not a denial; a check that stops
// at 180ms, and at least 15ms before the caller's own deadline, leaves
// time for its answer to reach Envoy.
const (
	DefaultCheckTimeout   = 180 * time.Millisecond
	DefaultDeadlineMargin = 15 * time.Millisecond
)

// CheckerOption configures a Checker.
type CheckerOption func(*Checker)

// WithBudget sets the deadline budget of every check: it ends at the
// earlier of timeout after the check starts and margin before the
// caller's own deadline (the gRPC deadline Envoy sends), so that a check
// whose budget is spent still answers in band, with a 503 and reason
// deadline, before the caller gives up. A timeout that is not positive
// keeps DefaultCheckTimeout; a negative margin counts as none.
func WithBudget(timeout, margin time.Duration) CheckerOption {
	return func(c *Checker) {
		if timeout > 0 {
			c.timeout = timeout
		}
		c.margin = max(margin, 0)
	}
}

// budget returns ctx bounded by the check budget. The caller must call
// release when the check is done.
func (c *Checker) budget(ctx context.Context) *budgetCtx {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok {
		if d = d.Add(-c.margin); d.Before(deadline) {
			deadline = d
		}
	}
	return &budgetCtx{Context: ctx, deadline: deadline}
}

// budgetCtx is context.WithDeadline made lazy: most checks never wait
// on their context (no remote call), and a timer armed and stopped for
// each of them would cost four allocations and a timer-heap round trip
// (issue #9 asks the budget to cost at most about one). Until something
// asks for Done, the deadline is only compared with the clock, in Err;
// Done then builds the real deadline context, and Value answers from it,
// so that contexts derived from this one attach to it as they would to
// one made by WithDeadline (no watcher goroutine per child).
type budgetCtx struct {
	context.Context // the caller's

	deadline time.Time

	mu       sync.Mutex
	inner    context.Context // WithDeadline(Context, deadline), once Done was asked for
	cancel   context.CancelFunc
	released bool
}

// Deadline returns the end of the budget.
func (b *budgetCtx) Deadline() (time.Time, bool) { return b.deadline, true }

// Done returns a channel closed when the budget ends, the caller's
// context ends or the check is released.
func (b *budgetCtx) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inner == nil {
		b.inner, b.cancel = context.WithDeadline(b.Context, b.deadline)
		if b.released {
			b.cancel()
		}
	}
	return b.inner.Done()
}

// Err reports why the check's context ended: context.DeadlineExceeded
// once the budget is spent, the caller's context's error when that ended
// first, context.Canceled after release, nil while the check runs.
func (b *budgetCtx) Err() error {
	b.mu.Lock()
	inner, released := b.inner, b.released
	b.mu.Unlock()
	switch {
	case inner != nil:
		if err := inner.Err(); err != nil {
			return err
		}
	case released:
		return context.Canceled
	default:
		if err := b.Context.Err(); err != nil {
			return err
		}
	}
	// The clock, not a timer, says when the budget is spent: a call cut
	// by a timer of its own at the same deadline may return before Done
	// is closed, and the check must see the same deadline it did.
	if !time.Now().Before(b.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value answers from the deadline context once there is one, so that
// context.WithCancel and the like find its cancellation to attach to.
func (b *budgetCtx) Value(key any) any {
	b.mu.Lock()
	inner := b.inner
	b.mu.Unlock()
	if inner != nil {
		return inner.Value(key)
	}
	return b.Context.Value(key)
}

// release ends the budget when the check is done: it stops the timer, if
// one was armed, and cancels whatever is still waiting on the context.
func (b *budgetCtx) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.released = true
	if b.cancel != nil {
		b.cancel()
	}
}
