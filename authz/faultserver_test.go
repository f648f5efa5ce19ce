//go:build faults

// These tests assert answers within Envoy's 200ms deadline under -race,
// so they need the CPU to themselves: .ci/run runs them in their own step
// after the rest of the suite (go test -race -tags faults -run
// 'FaultInjection|Soak' ./authz/), where the machine is otherwise idle.

package authz_test

// A loopback HTTP dependency whose failure mode can be switched while it
// runs, for the fault-injection and soak tests (faults_test.go,
// soak_test.go): it stands in for a JWKS endpoint, an introspection
// endpoint, a session store, a remote authorizer or a hydrator, answering
// with the dependency's healthy answer or with one of the faults below.

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fault is what a faultServer does with the requests it gets.
type fault string

// The faults of issue #9 item 7, plus the healthy mode.
const (
	// faultNone answers with the dependency's healthy answer.
	faultNone fault = "none"
	// faultSlow answers healthily, but only after the server's slow delay,
	// longer than any check budget.
	faultSlow fault = "slow"
	// faultHang never answers: the request is held until the caller gives
	// up or the fault is cleared, which drops the connection as a restarted
	// dependency would.
	faultHang fault = "hanging"
	// faultFlap alternates, hit by hit, between a 503 and the healthy
	// answer.
	faultFlap fault = "flapping"
	// faultHuge answers 200 with a body over the 1 MiB response cap.
	faultHuge fault = "huge_body"
	// faultGarbage answers 200 with a body that is not JSON (an HTML error
	// page, as a misrouted proxy sends).
	faultGarbage fault = "garbage_body"
	// faultRefused closes the listener and every connection: connecting
	// is refused until the fault is cleared, then the server listens on
	// the same address again.
	faultRefused fault = "refused"
)

// allFaults lists the faults every dependency is put through.
var allFaults = []fault{faultSlow, faultHang, faultFlap, faultHuge, faultGarbage, faultRefused}

// faultHugeBody is JSON just over outbound's default body cap of 1 MiB.
var faultHugeBody = `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`

// faultGarbageBody is a 200 answer no JSON reader accepts.
const faultGarbageBody = "<html><body><h1>502 Bad Gateway</h1></body></html>\n"

// faultServer is a switchable loopback dependency. Its address never
// changes, so the rules that name it survive faultRefused.
type faultServer struct {
	tb   testing.TB
	addr string
	ok   http.HandlerFunc
	slow time.Duration

	hits     atomic.Int64 // requests received (none while refusing)
	flapHits atomic.Int64

	mu      sync.Mutex
	mode    fault
	release chan struct{} // closed when the mode changes
	srv     *http.Server  // nil while refusing
	served  chan struct{} // closed when srv's Serve returns
	closed  bool
	// active counts running handler calls and idle is signalled (with mu)
	// when it drops to zero, so close can wait for them: the soak test
	// checks for leaked goroutines.
	active int
	idle   *sync.Cond
}

// newFaultServer starts a healthy dependency on 127.0.0.1 that answers
// with ok; slow is the delay of faultSlow. It is closed when the test ends.
func newFaultServer(tb testing.TB, slow time.Duration, ok http.HandlerFunc) *faultServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &faultServer{tb: tb, addr: ln.Addr().String(), ok: ok, slow: slow, mode: faultNone, release: make(chan struct{})}
	s.idle = sync.NewCond(&s.mu)
	s.start(ln)
	tb.Cleanup(s.close)
	return s
}

// URL is the server's base URL (http://127.0.0.1:port).
func (s *faultServer) URL() string { return "http://" + s.addr }

// start serves on ln; s.mu is held or s is not shared yet.
func (s *faultServer) start(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.tb.Errorf("fault server %s: %v", s.addr, err)
		}
	}()
	s.srv, s.served = srv, served
}

// stop closes the listener and every connection and waits for Serve to
// return; s.mu is held.
func (s *faultServer) stop() {
	if s.srv == nil {
		return
	}
	_ = s.srv.Close()
	<-s.served
	s.srv, s.served = nil, nil
}

// set switches the mode. Requests held by faultHang or faultSlow are let
// go (their connections dropped), and leaving faultRefused listens on the
// same address again.
func (s *faultServer) set(m fault) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || m == s.mode {
		return
	}
	close(s.release)
	s.release = make(chan struct{})
	old := s.mode
	s.mode = m
	s.flapHits.Store(0)
	switch {
	case m == faultRefused:
		s.stop()
	case old == faultRefused:
		// Go's listeners set SO_REUSEADDR, so the port is free again at
		// once; another process taking it in between would be a fluke
		// worth a clear failure.
		// (set may run on a goroutine of its own: no Fatal here.)
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			s.tb.Errorf("fault server: listen again on %s: %v", s.addr, err)
			return
		}
		s.start(ln)
	}
}

// enter registers a handler call and returns the mode and the channel
// closed when it changes; ok is false once the server is closed.
func (s *faultServer) enter() (mode fault, release chan struct{}, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", nil, false
	}
	s.active++
	return s.mode, s.release, true
}

func (s *faultServer) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active--; s.active == 0 {
		s.idle.Broadcast()
	}
}

func (s *faultServer) serve(w http.ResponseWriter, r *http.Request) {
	mode, release, ok := s.enter()
	if !ok {
		panic(http.ErrAbortHandler)
	}
	defer s.leave()
	s.hits.Add(1)
	switch mode {
	case faultSlow:
		t := time.NewTimer(s.slow)
		defer t.Stop()
		select {
		case <-t.C:
			s.ok(w, r)
		case <-r.Context().Done():
		case <-release:
			panic(http.ErrAbortHandler) // drops the connection quietly
		}
	case faultHang:
		select {
		case <-r.Context().Done():
		case <-release:
			panic(http.ErrAbortHandler)
		}
	case faultFlap:
		if s.flapHits.Add(1)%2 == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"temporarily unavailable"}`))
			return
		}
		s.ok(w, r)
	case faultHuge:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(faultHugeBody)))
		_, _ = io.WriteString(w, faultHugeBody)
	case faultGarbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(faultGarbageBody))
	default:
		s.ok(w, r)
	}
}

// close stops the server and waits for every handler call to return.
func (s *faultServer) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.release)
		s.stop()
	}
	for s.active > 0 {
		s.idle.Wait()
	}
}

// stallWatch measures how late a 10ms ticker is served while it runs. A
// lag every goroutine suffers is the machine (or the runtime) stalling the
// whole test process; the reports show it next to the checks' times, so a
// check answered late during such a stall can be told from a slow service.
type stallWatch struct {
	done    chan struct{}
	stopped chan struct{}
	longest time.Duration
	over50  int
	// lags are the ticks served late: the process stood still for lag
	// before end. Read only after stop.
	lags []stallLag
}

// stallLag is one tick served lag late, at end.
type stallLag struct {
	end time.Time
	lag time.Duration
}

// stallPeriod is the ticker's period.
const stallPeriod = 10 * time.Millisecond

func startStallWatch() *stallWatch {
	w := &stallWatch{done: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		tick := time.NewTicker(stallPeriod)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
			now := time.Now()
			lag := now.Sub(last) - stallPeriod
			last = now
			w.longest = max(w.longest, lag)
			if lag > time.Millisecond {
				w.lags = append(w.lags, stallLag{end: now, lag: lag})
			}
			if lag > 50*time.Millisecond {
				w.over50++
			}
		}
	}()
	return w
}

// during returns how long the whole process stood still between from
// and to, as far as the watch saw: the part of each late tick's lag that
// falls in that window. Call it after stop.
func (w *stallWatch) during(from, to time.Time) time.Duration {
	var total time.Duration
	for _, l := range w.lags {
		start := l.end.Add(-l.lag)
		if s, e := later(start, from), earlier(l.end, to); e.After(s) {
			total += e.Sub(s)
		}
	}
	return total
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// stop ends the watch and returns the longest lag and the number of lags
// over 50ms.
func (w *stallWatch) stop() (longest time.Duration, over50ms int) {
	close(w.done)
	<-w.stopped
	return w.longest.Round(time.Millisecond), w.over50
}
