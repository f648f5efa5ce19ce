package remotecall

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// DefaultCallTimeout bounds a remote call made for a check when its rule
// sets no timeout of its own (session stores, remote authorizers, the
// wait for missing JWKS keys). It fits inside the default check budget
// (serve.check_timeout, 180ms) with room to answer, so a dependency that
// does not answer is reported as itself (a ..._timeout or ..._unavailable
// reason) rather than as a spent budget (deadline). Whatever a rule sets,
// a call never outlives the check's own deadline.
const DefaultCallTimeout = 150 * time.Millisecond

// Flight coalesces concurrent identical remote calls: callers that ask
// with the same Key while a call is running wait for its answer instead of
// sending their own, so a burst of requests with one new token costs one
// call. The zero value is ready to use, and a Flight is safe for
// concurrent use. Every Cache has one (Cache.Flight), shared like the
// cache by all the rules of a handler.
//
// Keys must cover everything that shapes the call and the reading of its
// answer (URL, credential, every rule option that changes either): two
// calls share an answer only when their key material is the same, so
// only when they would have got the same answer.
type Flight struct {
	g       singleflight.Group
	waiting atomic.Int64
}

// Waiting returns how many callers are waiting for a call right now (for
// metrics and tests).
func (f *Flight) Waiting() int { return int(f.waiting.Load()) }

// flightResult is a shared call's outcome. cut reports that the call
// ended because the deadline of the caller that started it passed, which
// says nothing about a caller with a later one.
type flightResult[V any] struct {
	v        V
	cut      bool
	deadline time.Time
}

// Coalesce runs call once for all the concurrent callers of f with key k
// and gives each its outcome. Values are shared between callers and must
// not be modified.
//
// The call runs detached from every caller: it keeps the values of the
// context of the caller that started it (trace ids), not its
// cancellation, so that a caller who gives up or goes away does not fail
// the others. It is bounded by that caller's deadline (its check budget)
// and by timeout when positive, as the caller's own call would have been.
// Each caller waits only until its own ctx is done, and then gets
// ctx.Err(). A caller whose deadline is later than that of the caller who
// started the call, when the start's deadline cut it short, starts (or
// joins) another one: every caller is bounded by its own budget, never by
// another's.
func Coalesce[V any](ctx context.Context, f *Flight, k Key, timeout time.Duration, call func(context.Context) (V, error)) (V, error) {
	key := k.mat
	own, hasOwn := ctx.Deadline()
	for {
		ch := f.g.DoChan(key, func() (any, error) { return runShared(ctx, timeout, call) })
		f.waiting.Add(1)
		select {
		case res := <-ch:
			f.waiting.Add(-1)
			out, _ := res.Val.(flightResult[V])
			if out.cut && (!hasOwn || own.After(out.deadline)) && ctx.Err() == nil {
				continue
			}
			return out.v, res.Err
		case <-ctx.Done():
			f.waiting.Add(-1)
			var zero V
			return zero, ctx.Err()
		}
	}
}

// runShared runs a coalesced call for the caller whose context is ctx.
func runShared[V any](ctx context.Context, timeout time.Duration, call func(context.Context) (V, error)) (res any, err error) {
	deadline, bounded := ctx.Deadline()
	byCaller := bounded
	if timeout > 0 {
		if t := time.Now().Add(timeout); !bounded || t.Before(deadline) {
			deadline, bounded, byCaller = t, true, false
		}
	}
	cctx := context.WithoutCancel(ctx)
	if bounded {
		var cancel context.CancelFunc
		cctx, cancel = context.WithDeadline(cctx, deadline)
		defer cancel()
	}
	defer func() {
		// singleflight runs the call on its own goroutine, where a panic
		// would end the process rather than fail one check.
		if p := recover(); p != nil {
			res, err = flightResult[V]{}, fmt.Errorf("remote call failed: internal error: %v", p)
		}
	}()
	v, err := call(cctx)
	return flightResult[V]{v: v, cut: byCaller && cctx.Err() != nil, deadline: deadline}, err
}
