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
	eventually(t, 2*time.Second, "background fetch", func() bool { return src.Current() != nil })
	if got := src.Current().Lookup("k1"); len(got) != 1 {
		t.Fatalf("Lookup(k1) = %v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
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
	eventually(t, 2*time.Second, "three refreshes", func() bool { return srv.hits.Load() >= 3 })
	if src.Current() == nil {
		t.Fatal("no keys after refreshes")
	}
}

func TestAwaitFetchesOnDemandWithoutRun(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Second)
	if src.Current() == nil || srv.hits.Load() != 1 {
		t.Fatalf("keys = %v, hits = %d", src.Current(), srv.hits.Load())
	}
	c.Await(context.Background(), []*Source{src}, time.Second)
	if srv.hits.Load() != 1 {
		t.Fatal("Await refetched although keys were present")
	}
}

func TestAwaitWaitsAtMostMaxWait(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	srv.setDelay(0, true)
	c := newCache(t, Options{})
	src := mustRegister(t, c, srv.URL)
	start := time.Now()
	c.Await(context.Background(), []*Source{src}, 50*time.Millisecond)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Await took %v with max wait 50ms", el)
	}
	if src.Current() != nil {
		t.Fatal("keys from a blocked endpoint")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start = time.Now()
	c.Await(ctx, []*Source{src}, time.Minute)
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Await ignored a done context for %v", el)
	}
}

// a flood of unknown kids coalesces into one refetch per URL.
func TestUnknownKIDFloodFetchesAtMostOncePerInterval(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	srv2 := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{MinRefetchInterval: time.Minute})
	srcs := []*Source{mustRegister(t, c, srv.URL), mustRegister(t, c, srv2.URL)}
	c.Await(context.Background(), srcs, time.Second)
	srv.setDelay(20*time.Millisecond, false)
	// Pretend the warm-up was long ago, so exactly one refetch is due.
	for _, s := range srcs {
		s.mu.Lock()
		s.lastAttempt = time.Now().Add(-time.Hour)
		s.mu.Unlock()
	}

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
			if c.Refetch(context.Background(), srcs, time.Second) {
				refetched.Store(i, true)
			}
		}()
	}
	wg.Wait()
	if h1, h2 := srv.hits.Load(), srv2.hits.Load(); h1 != 2 || h2 != 2 {
		t.Fatalf("JWKS hits = %d and %d, want 2 each (warm-up + one coalesced refetch)", h1, h2)
	}
	// Later unknown kids inside the interval cost nothing and wait for
	// nothing.
	start := time.Now()
	if c.Refetch(context.Background(), srcs, time.Second) {
		t.Fatal("Refetch inside the interval started a fetch")
	}
	if time.Since(start) > 100*time.Millisecond || srv.hits.Load() != 2 {
		t.Fatal("rate-limited Refetch waited or fetched")
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
	eventually(t, 2*time.Second, "warm-up", func() bool { return src.Current() != nil })
	good := src.Current()

	srv.set(nil, http.StatusInternalServerError)
	before := srv.hits.Load()
	c.Refetch(context.Background(), []*Source{src}, time.Second) // first failure
	eventually(t, 3*time.Second, "backoff retries", func() bool { return srv.hits.Load()-before >= 5 })
	if src.Current() != good {
		t.Fatal("the last good keys were dropped during the outage")
	}
	if err := src.Err(); err == nil || !strings.Contains(err.Error(), "status 500") {
		t.Fatalf("Err = %v", err)
	}
	times := srv.hitTimes()
	times = times[len(times)-4:]
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 10*time.Millisecond || gap > 30*time.Second {
			t.Fatalf("retry gap %v outside [backoff min, ttl)", gap)
		}
	}

	// Recovery with a rotated key: k1 disappears only now.
	srv.set(doc(jwkOf(t, &rsaKey2.PublicKey, map[string]any{"kid": "k2"})), http.StatusOK)
	eventually(t, 3*time.Second, "recovery", func() bool { return src.Current() != good })
	if src.Current().Lookup("k1") != nil || src.Current().Lookup("k2") == nil || src.Err() != nil {
		t.Fatal("recovered set is not the rotated one")
	}
}

func TestIdenticalRefreshKeepsTheSameSet(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{MinRefetchInterval: time.Millisecond})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Second)
	first := src.Current()
	time.Sleep(2 * time.Millisecond)
	if !c.Refetch(context.Background(), []*Source{src}, time.Second) {
		t.Fatal("Refetch did not fetch")
	}
	if srv.hits.Load() != 2 || src.Current() != first {
		t.Fatalf("hits = %d, same set = %v", srv.hits.Load(), src.Current() == first)
	}
}

func TestKeysOlderThanMaxStaleAreNotServed(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	c := newCache(t, Options{MaxStale: 30 * time.Millisecond})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Second)
	if src.Current() == nil {
		t.Fatal("no keys after fetch")
	}
	time.Sleep(40 * time.Millisecond)
	if src.Current() != nil {
		t.Fatal("keys served beyond MaxStale")
	}
}

func TestFailedSourceAnswersAtOnce(t *testing.T) {
	srv := newJWKSServer(t, nil)
	srv.set(nil, http.StatusServiceUnavailable)
	c := newCache(t, Options{})
	src := mustRegister(t, c, srv.URL)
	c.Await(context.Background(), []*Source{src}, time.Second)
	if src.Current() != nil || src.Err() == nil {
		t.Fatal("want no keys and an error")
	}
	start := time.Now()
	c.Await(context.Background(), []*Source{src}, time.Second)
	if time.Since(start) > 100*time.Millisecond || srv.hits.Load() != 1 {
		t.Fatalf("second Await waited or refetched (hits %d)", srv.hits.Load())
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
			c.Await(context.Background(), []*Source{src}, time.Second)
			if src.Current().Lookup("21d9eefe-34b6-42b3-b643-2b30e0ab59e0") == nil {
				t.Fatalf("fixture key missing, err = %v", src.Err())
			}
		})
	}
}
