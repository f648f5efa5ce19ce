package jwks

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func k1Doc(t testing.TB) []byte {
	return doc(jwkOf(t, &rsaKey.PublicKey, map[string]any{"kid": "k1", "alg": "RS256", "use": "sig"}))
}

func TestRunFetchesRegisteredURLInBackground(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{})
	src := mustRegister(t, c, srv.URL)
	if src.Current() != nil {
		t.Fatal("keys before any fetch")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	eventually(t, "background fetch", func() bool { return src.Current() != nil })
	if got := src.Current().Lookup("k1"); len(got) != 1 {
		t.Fatalf("Lookup(k1) = %v", got)
	}
	cancel()
	returns(t, "Run after its context ended", func() {
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	if _, err := c.Register(srv.URL+"/other", 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Register after Run ended = %v, want ErrClosed", err)
	}
}

func TestRunRefreshesEveryTTL(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{TTL: time.Hour})
	src, err := c.Register(srv.URL, 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(context.Background()) }()
	eventually(t, "three refreshes", func() bool { return srv.hits.Load() >= 3 })
	if src.Current() == nil {
		t.Fatal("no keys after refreshes")
	}
}

func TestAwaitFetchesOnDemandWithoutRun(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Hour)
	if src.Current() == nil || srv.hits.Load() != 1 {
		t.Fatalf("keys = %v, hits = %d", src.Current(), srv.hits.Load())
	}
	c.Await(context.Background(), []*Source{src}, time.Hour)
	if srv.hits.Load() != 1 {
		t.Fatal("Await refetched although keys were present")
	}
}

// The endpoint never answers and the fetch timeout is a minute, so only
// the bound under test can end each Await: returning at all is the proof.
func TestAwaitWaitsAtMostMaxWait(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	srv.setDelay(0, true)
	c := newCache(t, Options{})
	src := mustRegister(t, c, srv.URL)
	returns(t, "Await with max wait 1ms", func() { c.Await(context.Background(), []*Source{src}, time.Millisecond) })
	if src.Current() != nil {
		t.Fatal("keys from a blocked endpoint")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	returns(t, "Await with a done context", func() { c.Await(ctx, []*Source{src}, time.Hour) })
}

// a flood of unknown kids coalesces into one refetch per URL.
func TestUnknownKIDFloodFetchesAtMostOncePerInterval(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	srv2 := newJWKSServer(t, k1Doc(t))
	clock := newManualClock()
	c := newCache(t, Options{MinRefetchInterval: time.Minute, Now: clock.Now})
	srcs := []*Source{mustRegister(t, c, srv.URL), mustRegister(t, c, srv2.URL)}
	c.Await(context.Background(), srcs, time.Hour)
	// A slow answer makes most callers join the running fetch; the others
	// find it done and are rate-limited. Either way: one fetch per URL.
	srv.setDelay(20*time.Millisecond, false)
	clock.Advance(time.Minute) // exactly one refetch is due

	const workers = 500
	var wg sync.WaitGroup
	var refetched sync.Map
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			kid := fmt.Sprintf("random-%d-%d", i, rand.Int64())
			for _, s := range srcs {
				if s.Current().Lookup(kid) != nil {
					t.Errorf("unexpected key for %s", kid)
				}
			}
			if c.Refetch(context.Background(), srcs, time.Hour) {
				refetched.Store(i, true)
			}
		}()
	}
	wg.Wait()
	if h1, h2 := srv.hits.Load(), srv2.hits.Load(); h1 != 2 || h2 != 2 {
		t.Fatalf("JWKS hits = %d and %d, want 2 each (warm-up + one coalesced refetch)", h1, h2)
	}
	// Later unknown kids inside the interval cost nothing and wait for
	// nothing: the endpoint now never answers, so a Refetch that fetched
	// or waited could not return.
	srv.setDelay(0, true)
	clock.Advance(time.Minute - time.Nanosecond)
	returns(t, "Refetch inside the interval", func() {
		if c.Refetch(context.Background(), srcs, time.Hour) {
			t.Error("Refetch inside the interval started a fetch")
		}
	})
	if h1, h2 := srv.hits.Load(), srv2.hits.Load(); h1 != 2 || h2 != 2 {
		t.Fatalf("JWKS hits = %d and %d inside the interval, want 2 each", h1, h2)
	}
	n := 0
	refetched.Range(func(any, any) bool { n++; return true })
	if n == 0 {
		t.Fatal("no caller saw the coalesced refetch")
	}
}

// E-06: an outage after warm-up keeps the last good keys, retries with
// backoff, and a later successful fetch is what replaces the keys.
func TestOutageKeepsLastGoodKeysAndRetriesWithBackoff(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{TTL: time.Hour, BackoffMin: 10 * time.Millisecond, BackoffMax: 80 * time.Millisecond,
		MinRefetchInterval: time.Millisecond})
	src := mustRegister(t, c, srv.URL)
	go func() { _ = c.Run(context.Background()) }()
	eventually(t, "warm-up", func() bool { return src.Current() != nil })
	good := src.Current()

	srv.set(nil, http.StatusInternalServerError)
	before := srv.hits.Load()
	// The first failure. The interval is 1ms of real time since the
	// warm-up fetch began, so wait until a refetch may start.
	eventually(t, "a refetch", func() bool { return c.Refetch(context.Background(), []*Source{src}, time.Hour) })
	// With a TTL of an hour only the backoff schedule can make these.
	eventually(t, "backoff retries", func() bool { return srv.hits.Load()-before >= 5 })
	if src.Current() != good {
		t.Fatal("the last good keys were dropped during the outage")
	}
	if err := src.Err(); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("Err = %v", err)
	}
	// A retry is scheduled BackoffMin or more after the previous fetch
	// ended, so no gap can be shorter, however loaded the machine.
	times := srv.hitTimes()
	times = times[len(times)-4:]
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 10*time.Millisecond {
			t.Fatalf("retry gap %v below the minimum backoff", gap)
		}
	}

	// Recovery with a rotated key: k1 disappears only now.
	srv.set(doc(jwkOf(t, &rsaKey2.PublicKey, map[string]any{"kid": "k2"})), http.StatusOK)
	eventually(t, "recovery", func() bool { return src.Current() != good })
	if src.Current().Lookup("k1") != nil || src.Current().Lookup("k2") == nil || src.Err() != nil {
		t.Fatal("recovered set is not the rotated one")
	}
}

func TestIdenticalRefreshKeepsTheSameSet(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	clock := newManualClock()
	c := newCache(t, Options{MinRefetchInterval: time.Second, Now: clock.Now})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Hour)
	first := src.Current()
	clock.Advance(time.Second)
	if !c.Refetch(context.Background(), []*Source{src}, time.Hour) {
		t.Fatal("Refetch did not fetch")
	}
	if srv.hits.Load() != 2 || src.Current() != first {
		t.Fatalf("hits = %d, same set = %v", srv.hits.Load(), src.Current() == first)
	}
}

func TestKeysOlderThanMaxStaleAreNotServed(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	clock := newManualClock()
	c := newCache(t, Options{MaxStale: time.Hour, Now: clock.Now})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Hour)
	if src.Current() == nil {
		t.Fatal("no keys after fetch")
	}
	clock.Advance(time.Hour)
	if src.Current() == nil {
		t.Fatal("keys exactly MaxStale old were dropped")
	}
	clock.Advance(time.Nanosecond)
	if src.Current() != nil {
		t.Fatal("keys served beyond MaxStale")
	}
}

func TestFailedSourceAnswersAtOnce(t *testing.T) {
	srv := newJWKSServer(t, nil)
	srv.set(nil, http.StatusServiceUnavailable)
	clock := newManualClock()
	c := newCache(t, Options{Now: clock.Now})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Hour)
	if src.Current() != nil || src.Err() == nil {
		t.Fatal("want no keys and an error")
	}
	// Inside the refetch interval; the endpoint now never answers, so an
	// Await that fetched or waited could not return.
	srv.setDelay(0, true)
	returns(t, "second Await", func() { c.Await(context.Background(), []*Source{src}, time.Hour) })
	if srv.hits.Load() != 1 {
		t.Fatalf("second Await refetched (hits %d)", srv.hits.Load())
	}
}

func TestFileSources(t *testing.T) {
	abs, err := filepath.Abs("testdata/jwks-ecdsa.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
	}{
		{"absolute file url", "file://" + filepath.ToSlash(abs)},
		{"relative file url as in oathkeeper", "file://./testdata/jwks-ecdsa.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, Options{})
			src := mustRegister(t, c, tt.url)
			c.Await(context.Background(), []*Source{src}, time.Hour)
			if src.Current().Lookup("21d9eefe-34b6-42b3-b643-2b30e0ab59e0") == nil {
				t.Fatalf("fixture key missing, err = %v", src.Err())
			}
		})
	}
}
