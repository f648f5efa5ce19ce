package breaker

import (
	"errors"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func noJitter(time.Duration) time.Duration { return 0 }

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// call makes one call through b that ends with o, and fails the test if b
// refuses it.
func call(t *testing.T, b *Breaker, o Outcome) {
	t.Helper()
	p, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow: %v, want the call let through", err)
	}
	p.Done(o)
}

func refused(t *testing.T, b *Breaker) {
	t.Helper()
	if _, err := b.Allow(); !errors.Is(err, ErrOpen) {
		t.Fatalf("Allow: err = %v, want ErrOpen", err)
	}
}

func TestOpensOnlyAfterConsecutiveFailures(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []Outcome
		wantOpen bool
	}{
		{name: "five failures open", outcomes: []Outcome{Failure, Failure, Failure, Failure, Failure}, wantOpen: true},
		{name: "four failures do not", outcomes: []Outcome{Failure, Failure, Failure, Failure}},
		{name: "a success resets the run", outcomes: []Outcome{Failure, Failure, Failure, Failure, Success, Failure, Failure, Failure, Failure}},
		{name: "ignored calls neither count nor reset", outcomes: []Outcome{Failure, Failure, Ignored, Failure, Ignored, Failure, Failure}, wantOpen: true},
		{name: "successes never open", outcomes: []Outcome{Success, Success, Success, Success, Success, Success}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			b := NewRegistry(Options{Now: clk.Now, Jitter: noJitter}).Get(mustURL(t, "http://idp.test/introspect"), Settings{})
			for _, o := range tt.outcomes {
				call(t, b, o)
			}
			if got := b.State() == Open; got != tt.wantOpen {
				t.Fatalf("state %v, want open %v", b.State(), tt.wantOpen)
			}
			if tt.wantOpen {
				refused(t, b)
			}
		})
	}
}

func TestHalfOpenLetsExactlyOneProbeThrough(t *testing.T) {
	tests := []struct {
		name      string
		probe     Outcome
		wantState State
	}{
		{name: "a successful probe closes", probe: Success, wantState: Closed},
		{name: "a failed probe reopens", probe: Failure, wantState: Open},
		{name: "an ignored probe lets the next call probe", probe: Ignored, wantState: HalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			b := NewRegistry(Options{Now: clk.Now, Jitter: noJitter}).Get(mustURL(t, "http://idp.test/"), Settings{ConsecutiveFailures: 2, OpenFor: time.Second})
			call(t, b, Failure)
			call(t, b, Failure)
			clk.Advance(time.Second - time.Nanosecond)
			refused(t, b)
			clk.Advance(time.Nanosecond)

			probe, err := b.Allow()
			if err != nil {
				t.Fatalf("probe refused: %v", err)
			}
			refused(t, b) // while the probe is out, every other call fails fast
			refused(t, b)
			probe.Done(tt.probe)
			if got := b.State(); got != tt.wantState {
				t.Fatalf("state %v, want %v", got, tt.wantState)
			}
			switch tt.wantState {
			case Closed:
				call(t, b, Success)
				call(t, b, Success)
			case Open:
				refused(t, b)
				clk.Advance(time.Second)
				call(t, b, Success)
				if b.State() != Closed {
					t.Fatalf("state %v after the second probe succeeded", b.State())
				}
			case HalfOpen:
				p, err := b.Allow()
				if err != nil {
					t.Fatalf("next probe refused: %v", err)
				}
				refused(t, b)
				p.Done(Success)
			}
		})
	}
}

func TestOnlyOneConcurrentCallerProbes(t *testing.T) {
	clk := newFakeClock()
	b := NewRegistry(Options{Now: clk.Now, Jitter: noJitter}).Get(mustURL(t, "http://idp.test/"), Settings{ConsecutiveFailures: 1, OpenFor: time.Second})
	call(t, b, Failure)
	clk.Advance(time.Second)
	const n = 32
	var wg sync.WaitGroup
	permits := make(chan Permit, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := b.Allow(); err == nil {
				permits <- p
			}
		}()
	}
	wg.Wait()
	close(permits)
	if got := len(permits); got != 1 {
		t.Fatalf("%d callers probed, want 1", got)
	}
	(<-permits).Done(Success)
}

func TestOpenPeriodIsShortenedByJitter(t *testing.T) {
	tests := []struct {
		name    string
		jitter  func(time.Duration) time.Duration
		openFor time.Duration
		want    time.Duration // open period
	}{
		{name: "no jitter", jitter: noJitter, openFor: 2 * time.Second, want: 2 * time.Second},
		{name: "at most a quarter", jitter: func(n time.Duration) time.Duration { return n - 1 }, openFor: 2 * time.Second, want: 1500*time.Millisecond + 1},
		{name: "default random jitter stays within the quarter", openFor: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			start := clk.Now()
			b := NewRegistry(Options{Now: clk.Now, Jitter: tt.jitter}).Get(mustURL(t, "http://idp.test/"), Settings{ConsecutiveFailures: 1, OpenFor: tt.openFor})
			call(t, b, Failure)
			until := b.c.status().OpenUntil
			if got := until.Sub(start); tt.want != 0 && got != tt.want || got <= tt.openFor*3/4 || got > tt.openFor {
				t.Fatalf("open for %v, want %v (within (3/4, 1] of %v)", got, tt.want, tt.openFor)
			}
		})
	}
}

// TestLateOutcomesAreDisregarded: a slow call let through while the
// circuit was closed must not close it after it opened.
func TestLateOutcomesAreDisregarded(t *testing.T) {
	clk := newFakeClock()
	b := NewRegistry(Options{Now: clk.Now, Jitter: noJitter}).Get(mustURL(t, "http://idp.test/"), Settings{ConsecutiveFailures: 2, OpenFor: time.Second})
	slow, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	call(t, b, Failure)
	call(t, b, Failure)
	slow.Done(Success)
	if b.State() != Open {
		t.Fatalf("state %v, want open: a success from before the circuit opened closed it", b.State())
	}
}

func TestCircuitsAreKeyedByURL(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry(Options{Now: clk.Now, Jitter: noJitter})
	introspect := r.Get(mustURL(t, "http://idp.test/oauth2/introspect"), Settings{ConsecutiveFailures: 1})
	sameURL := r.Get(mustURL(t, "http://idp.test/oauth2/introspect"), Settings{ConsecutiveFailures: 10})
	sameHost := r.Get(mustURL(t, "http://idp.test/sessions/whoami"), Settings{ConsecutiveFailures: 1})
	call(t, introspect, Failure)
	refused(t, sameURL)        // another handler on the same URL shares the circuit
	call(t, sameHost, Success) // another URL on the same host does not
	if introspect.c != sameURL.c || introspect.c == sameHost.c {
		t.Fatal("circuits are not keyed by URL")
	}
}

// TestThresholdsAreTheCallers: handlers sharing a circuit may set
// different thresholds; each failure is judged by the caller that saw it.
func TestThresholdsAreTheCallers(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry(Options{Now: clk.Now, Jitter: noJitter})
	u := mustURL(t, "http://idp.test/")
	patient := r.Get(u, Settings{ConsecutiveFailures: 10, OpenFor: time.Second})
	strict := r.Get(u, Settings{ConsecutiveFailures: 3, OpenFor: 5 * time.Second})
	call(t, patient, Failure)
	call(t, patient, Failure)
	call(t, patient, Failure)
	if patient.State() != Closed {
		t.Fatalf("opened after 3 failures with a threshold of 10")
	}
	call(t, strict, Failure) // the fourth in a row, above strict's 3
	refused(t, patient)
	if got := strict.c.status().OpenUntil.Sub(clk.Now()); got != 5*time.Second {
		t.Fatalf("open for %v, want strict's 5s", got)
	}
}

func TestStatesAreObservableAndRedacted(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry(Options{Now: clk.Now, Jitter: noJitter})
	down := r.Get(mustURL(t, "https://user:pw@idp.test/introspect?api_key=secret#f"), Settings{ConsecutiveFailures: 1, OpenFor: time.Second})
	up := r.Get(mustURL(t, "https://authz.test/decide"), Settings{})
	call(t, down, Failure)
	call(t, up, Failure)
	want := []Status{
		{URL: "https://authz.test/decide", State: Closed, ConsecutiveFailures: 1},
		{URL: "https://idp.test/introspect", State: Open, ConsecutiveFailures: 1, OpenUntil: clk.Now().Add(time.Second)},
	}
	got := r.States()
	if len(got) != len(want) {
		t.Fatalf("States() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("States()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	clk.Advance(time.Second)
	if st := r.States()[1]; st.State != HalfOpen || st.State.String() != "half_open" {
		t.Fatalf("after the open period: %+v, want half_open", st)
	}
	var nilBreaker *Breaker
	if _, err := nilBreaker.Allow(); err != nil || nilBreaker.State() != Closed {
		t.Fatalf("a nil Breaker must let every call through")
	}
}

// TestUnusedCircuitsAreForgotten: the circuit of a URL no handler refers
// to any more (its rules were replaced) leaves the registry.
func TestUnusedCircuitsAreForgotten(t *testing.T) {
	clk := newFakeClock()
	r := NewRegistry(Options{Now: clk.Now, Jitter: noJitter})
	u := mustURL(t, "http://idp.test/old")
	func() {
		b := r.Get(u, Settings{ConsecutiveFailures: 1})
		call(t, b, Failure)
	}()
	kept := r.Get(mustURL(t, "http://idp.test/kept"), Settings{})
	runtime.GC()
	runtime.GC()
	if got := r.States(); len(got) != 1 || got[0].URL != "http://idp.test/kept" {
		t.Fatalf("States() = %+v, want only the circuit still referred to", got)
	}
	if b := r.Get(u, Settings{}); b.State() != Closed {
		t.Fatalf("a forgotten URL's new circuit is %v, want closed", b.State())
	}
	runtime.KeepAlive(kept)
}
