package remotecall

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds: a synchronisation on state the test
// cannot be told about otherwise, bounded so a broken cond fails rather
// than hangs.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 20_000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}

func TestCoalesceSharesOneCall(t *testing.T) {
	const n = 50
	var f Flight
	k := NewKeyer().NewHasher().String("token").Sum()
	var calls atomic.Int32
	release := make(chan struct{})
	call := func(context.Context) (string, error) {
		calls.Add(1)
		<-release
		return "answer", nil
	}
	var wg sync.WaitGroup
	got := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { got[i], errs[i] = Coalesce(context.Background(), &f, k, 0, call) })
	}
	waitFor(t, "every caller waits", func() bool { return f.Waiting() == n })
	close(release)
	wg.Wait()
	if c := calls.Load(); c != 1 {
		t.Fatalf("%d calls for %d concurrent callers, want 1", c, n)
	}
	for i := range n {
		if got[i] != "answer" || errs[i] != nil {
			t.Fatalf("caller %d got %q, %v", i, got[i], errs[i])
		}
	}
	if f.Waiting() != 0 {
		t.Fatalf("Waiting = %d after every caller returned", f.Waiting())
	}
}

func TestCoalesceKeysSeparateCalls(t *testing.T) {
	var f Flight
	keys := NewKeyer()
	var calls atomic.Int32
	release := make(chan struct{})
	call := func(context.Context) (int, error) { calls.Add(1); <-release; return 1, nil }
	var wg sync.WaitGroup
	for _, tok := range []string{"a", "b", "c"} {
		k := keys.NewHasher().String(tok).Sum()
		wg.Go(func() { _, _ = Coalesce(context.Background(), &f, k, 0, call) })
	}
	waitFor(t, "three calls run", func() bool { return calls.Load() == 3 })
	close(release)
	wg.Wait()
}

// A caller that gives up gets its own context's error at once; the call,
// detached from it, goes on for the others, even when the one who gave up
// is the caller who started it.
func TestCoalesceCallerLeavesAloneAndCallOutlivesItsStarter(t *testing.T) {
	var f Flight
	k := NewKeyer().NewHasher().String("token").Sum()
	started := make(chan struct{})
	release := make(chan struct{})
	var seen atomic.Value
	call := func(ctx context.Context) (string, error) {
		close(started)
		<-release
		seen.Store(ctx.Err() == nil)
		return "answer", nil
	}
	starterCtx, cancelStarter := context.WithCancel(context.Background())
	starter := make(chan error, 1)
	go func() { _, err := Coalesce(starterCtx, &f, k, 0, call); starter <- err }()
	<-started
	other := make(chan string, 1)
	go func() { v, _ := Coalesce(context.Background(), &f, k, 0, call); other <- v }()
	waitFor(t, "both callers wait", func() bool { return f.Waiting() == 2 })

	cancelStarter()
	if err := <-starter; !errors.Is(err, context.Canceled) {
		t.Fatalf("starter who gave up got %v, want context.Canceled", err)
	}
	close(release)
	if v := <-other; v != "answer" {
		t.Fatalf("the other caller got %q after the starter left", v)
	}
	if ok, _ := seen.Load().(bool); !ok {
		t.Fatal("the call's context was canceled with its starter")
	}
}

// A call is bounded by the deadline of the caller who started it. A caller
// with a later deadline whom that cut leaves without an answer asks again,
// within its own deadline; the starter itself does not.
func TestCoalesceCutByStartersDeadlineIsRetriedByLaterCallers(t *testing.T) {
	var f Flight
	k := NewKeyer().NewHasher().String("token").Sum()
	var calls atomic.Int32
	proceed := make(chan struct{})
	call := func(ctx context.Context) (string, error) {
		if calls.Add(1) == 1 {
			// The starter's deadline ends this call, once the later
			// caller has joined it.
			<-ctx.Done()
			<-proceed
			return "", ctx.Err()
		}
		return "answer", nil
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := Coalesce(short, &f, k, 0, call); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("starter got %v, want its deadline", err)
	}
	long, cancelLong := context.WithTimeout(context.Background(), time.Hour)
	defer cancelLong()
	later := make(chan string, 1)
	go func() {
		v, err := Coalesce(long, &f, k, 0, call)
		if err != nil {
			t.Errorf("later caller: %v", err)
		}
		later <- v
	}()
	waitFor(t, "the later caller joins the first call", func() bool { return f.Waiting() == 1 })
	close(proceed)
	if v := <-later; v != "answer" {
		t.Fatalf("later caller got %q, want the answer of a second call", v)
	}
	if c := calls.Load(); c != 2 {
		t.Fatalf("%d calls, want 2", c)
	}
}

// A call's own timeout bounds it for every caller alike: nobody asks
// again after it.
func TestCoalesceTimeoutIsEveryonesOutcome(t *testing.T) {
	var f Flight
	k := NewKeyer().NewHasher().String("token").Sum()
	var calls atomic.Int32
	call := func(ctx context.Context) (int, error) {
		calls.Add(1)
		dl, ok := ctx.Deadline()
		if !ok || time.Until(dl) > time.Minute {
			t.Errorf("call deadline %v, %v: want the 1ms timeout, not the caller's hour", dl, ok)
		}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	long, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if _, err := Coalesce(long, &f, k, time.Millisecond, call); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the call's timeout", err)
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("%d calls, want 1", c)
	}
}

// singleflight runs the call on a goroutine of its own, where a panic
// would take the whole process down; it is an error instead.
func TestCoalescePanicIsAnError(t *testing.T) {
	var f Flight
	k := NewKeyer().NewHasher().String("token").Sum()
	_, err := Coalesce(context.Background(), &f, k, 0, func(context.Context) (int, error) { panic("boom") })
	if err == nil || err.Error() != "remote call failed: internal error: boom" {
		t.Fatalf("err = %v", err)
	}
}
