package jwt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// a flood of tokens with fresh random kids and junk signatures makes
// at most one JWKS request per refetch interval, while valid K1 tokens keep
// verifying from the cached set, and a JWKS failure during the storm
// evicts nothing.
func TestSecurityCaseA35UnknownKIDStorm(t *testing.T) {
	const interval = 100 * time.Millisecond
	e := newEnv(t, jwks.Options{MinRefetchInterval: interval})
	a := e.auth(t, e.J0(), nil)
	valid := tok(t, K1, H0(), C0())
	if _, err := run(a, bearer(valid)); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	junk := jsonSeg(t, C0()) + "." + b64u(make([]byte, 256))

	storm := func(d time.Duration) (sent, validOK int64) {
		var wg sync.WaitGroup
		var nSent, nValid atomic.Int64
		stop := time.Now().Add(d)
		for range 500 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					kid := fmt.Sprintf("kid-%x", rand.Uint64())
					raw := jsonSeg(t, hdr(map[string]any{"kid": kid})) + "." + junk
					if pipeline.ReasonOf(authenticate(context.Background(), a, raw), "") != ReasonKeyNotFound {
						t.Error("random kid was not a key_not_found")
						return
					}
					nSent.Add(1)
				}
			}()
		}
		for time.Now().Before(stop) {
			if err := authenticate(context.Background(), a, valid); err != nil {
				t.Errorf("valid token failed during the storm: %v", err)
				break
			}
			nValid.Add(1)
			time.Sleep(time.Millisecond)
		}
		wg.Wait()
		return nSent.Load(), nValid.Load()
	}

	const d = 500 * time.Millisecond
	before := e.idp.hits.Load()
	sent, ok := storm(d)
	fetches := e.idp.hits.Load() - before
	// One fetch per started interval, plus one for the boundary.
	if limit := int64(d/interval) + 2; fetches > limit {
		t.Fatalf("%d JWKS fetches for %d unknown-kid requests in %v, want at most %d", fetches, sent, d, limit)
	}
	if ok == 0 {
		t.Fatal("no valid token verified during the storm")
	}
	t.Logf("%d unknown-kid requests, %d valid verifications, %d JWKS fetches", sent, ok, fetches)

	e.idp.set(nil, 500)
	before = e.idp.hits.Load()
	if _, ok = storm(d / 2); ok == 0 {
		t.Fatal("valid tokens stopped verifying while the JWKS failed")
	}
	if fetches = e.idp.hits.Load() - before; fetches > int64(d/2/interval)+2 {
		t.Fatalf("%d fetches against a failing JWKS", fetches)
	}
}

// E-06: after warm-up the JWKS goes down for longer than its TTL; cached
// keys keep verifying while the cache retries with backoff.
func TestOutageAfterWarmUpKeepsVerifying(t *testing.T) {
	e := newEnv(t, jwks.Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	c := e.J0()
	c.JWKSTTL = pipeline.Duration(time.Second)
	a := e.auth(t, c, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.keys.Run(ctx) }()
	defer func() { cancel(); <-done }()

	valid := tok(t, K1, H0(), C0())
	if err := authenticate(context.Background(), a, valid); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	e.idp.set(nil, 500)
	before := e.idp.hits.Load()
	deadline := time.Now().Add(5 * time.Second)
	for e.idp.hits.Load()-before < 4 { // the TTL refresh, then backoff retries
		if time.Now().After(deadline) {
			t.Fatalf("only %d retries while the JWKS was down", e.idp.hits.Load()-before)
		}
		if err := authenticate(context.Background(), a, valid); err != nil {
			t.Fatalf("cached keys stopped verifying during the outage: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := authenticate(context.Background(), a, valid); err != nil {
		t.Fatalf("after retries: %v", err)
	}
}
