package authz

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

// TestBudgetContextActsAsWithDeadline checks the lazy budget context
// against what context.WithDeadline promises: Err and Done agree however
// the context ended, values come from the caller's context, and contexts
// derived from it end with it.
func TestBudgetContextActsAsWithDeadline(t *testing.T) {
	tests := []struct {
		name string
		// end ends the check's context as the case says (nil: it runs).
		end     func(b *budgetCtx, cancelParent context.CancelFunc)
		past    bool // the deadline has passed already
		wantErr error
	}{
		{name: "running", wantErr: nil},
		{name: "deadline passed", past: true, wantErr: context.DeadlineExceeded},
		{name: "caller canceled", end: func(_ *budgetCtx, c context.CancelFunc) { c() }, wantErr: context.Canceled},
		{name: "released", end: func(b *budgetCtx, _ context.CancelFunc) { b.release() }, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		for _, doneFirst := range []bool{false, true} {
			name := tt.name
			if doneFirst {
				name += "/Done asked before"
			}
			t.Run(name, func(t *testing.T) {
				parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
				defer cancel()
				deadline := time.Now().Add(time.Hour)
				if tt.past {
					deadline = time.Now().Add(-time.Millisecond)
				}
				b := &budgetCtx{Context: parent, deadline: deadline}
				defer b.release()
				if doneFirst {
					b.Done()
				}
				if tt.end != nil {
					tt.end(b, cancel)
				}
				if err := b.Err(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Fatalf("Err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != nil {
					<-b.Done() // closed, or the test hangs
					if err := context.Cause(b); !errors.Is(err, tt.wantErr) {
						t.Fatalf("Cause = %v, want %v", err, tt.wantErr)
					}
				}
				if got := b.Value(ctxKey{}); got != "v" {
					t.Fatalf("Value = %v, want the caller's", got)
				}
				if dl, ok := b.Deadline(); !ok || !dl.Equal(deadline) {
					t.Fatalf("Deadline = %v, %v; want %v", dl, ok, deadline)
				}
			})
		}
	}
}

// A context derived from the budget ends when the budget does.
func TestBudgetContextEndsItsChildren(t *testing.T) {
	b := &budgetCtx{Context: context.Background(), deadline: time.Now().Add(20 * time.Millisecond)}
	defer b.release()
	child, cancel := context.WithTimeout(b, time.Hour)
	defer cancel()
	if dl, _ := child.Deadline(); !dl.Equal(b.deadline) {
		t.Fatalf("child deadline %v, want the budget's %v", dl, b.deadline)
	}
	<-child.Done()
	if !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("child Err = %v", child.Err())
	}

	released := &budgetCtx{Context: context.Background(), deadline: time.Now().Add(time.Hour)}
	child2, cancel2 := context.WithCancel(released)
	defer cancel2()
	released.release()
	<-child2.Done()
}

// The budget costs one allocation per check as long as nothing waits on
// it (issue #9: at most about one); context.WithTimeout costs four.
func TestBudgetCostsOneAllocation(t *testing.T) {
	c := NewChecker(nil, nil, nil)
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	allocs := testing.AllocsPerRun(1000, func() {
		b := c.budget(parent)
		_ = b.Err()
		_, _ = b.Deadline()
		b.release()
	})
	if allocs > 1 {
		t.Fatalf("the budget costs %v allocations per check, want 1", allocs)
	}
}

func TestBudgetDeadline(t *testing.T) {
	c := NewChecker(nil, nil, nil, WithBudget(180*time.Millisecond, 15*time.Millisecond))
	now := time.Now()
	near, cancel := context.WithDeadline(context.Background(), now.Add(100*time.Millisecond))
	defer cancel()
	if got, want := c.budget(near).deadline, now.Add(85*time.Millisecond); !got.Equal(want) {
		t.Fatalf("caller deadline in 100ms: budget ends %v, want %v (margin before it)", got, want)
	}
	far, cancel := context.WithDeadline(context.Background(), now.Add(time.Hour))
	defer cancel()
	for name, ctx := range map[string]context.Context{"far caller deadline": far, "no caller deadline": context.Background()} {
		before := time.Now()
		got := c.budget(ctx).deadline
		after := time.Now()
		if got.Before(before.Add(180*time.Millisecond)) || got.After(after.Add(180*time.Millisecond)) {
			t.Fatalf("%s: budget ends %v, want check_timeout after the start (%v..%v)", name, got,
				before.Add(180*time.Millisecond), after.Add(180*time.Millisecond))
		}
	}
	d := NewChecker(nil, nil, nil)
	if d.timeout != DefaultCheckTimeout || d.margin != DefaultDeadlineMargin {
		t.Fatalf("defaults: timeout %v margin %v", d.timeout, d.margin)
	}
	if e := NewChecker(nil, nil, nil, WithBudget(0, -time.Second)); e.timeout != DefaultCheckTimeout || e.margin != 0 {
		t.Fatalf("WithBudget(0, -1s): timeout %v margin %v, want the default and none", e.timeout, e.margin)
	}
}
