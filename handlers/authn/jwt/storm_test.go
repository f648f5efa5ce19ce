package jwt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// a flood of tokens with fresh random kids and junk signatures makes
// at most one JWKS request per refetch interval, however many requests
// arrive at once, while valid K1 tokens keep verifying from the cached
// set, and a JWKS failure during the storm evicts nothing. The JWKS cache
// runs on a manual clock, so every count is exact on any machine.
func TestSecurityCaseA35UnknownKIDStorm(t *testing.T) {
	const interval = 5 * time.Second
	e := newEnv(t, jwks.Options{MinRefetchInterval: interval})
	a := e.auth(t, e.J0(), nil)
	valid := tok(t, K1, H0(), C0())
	if _, err := run(a, bearer(valid)); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	warm := a.srcs[0].Current()
	junk := jsonSeg(t, C0()) + "." + b64u(make([]byte, 256))

	const workers, perWorker = 16, 25
	round := 0
	// storm sends workers*perWorker unknown-kid tokens concurrently with
	// 20 valid ones and returns the JWKS fetches it caused.
	storm := func() int64 {
		t.Helper()
		round++
		toks := make([]string, workers*perWorker)
		for i := range toks {
			toks[i] = jsonSeg(t, hdr(map[string]any{"kid": fmt.Sprintf("kid-%d-%d", round, i)})) + "." + junk
		}
		before := e.idp.hits.Load()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for _, raw := range toks[w*perWorker : (w+1)*perWorker] {
					if err := authenticate(context.Background(), a, raw); pipeline.ReasonOf(err, "") != ReasonKeyNotFound {
						t.Errorf("unknown kid: got %v, want %s", err, ReasonKeyNotFound)
						return
					}
				}
			})
		}
		for range 20 {
			if err := authenticate(context.Background(), a, valid); err != nil {
				t.Errorf("valid token failed during the storm: %v", err)
			}
		}
		wg.Wait()
		// A request gives up on a slow fetch after jwks_max_wait, so a
		// fetch may still be on its way to the server. Join it: inside
		// the interval Refetch starts no fetch of its own.
		e.keys.Refetch(context.Background(), a.srcs, time.Hour)
		return e.idp.hits.Load() - before
	}

	steps := []struct {
		name    string
		advance time.Duration
		status  int
		want    int64
	}{
		{"same instant as the warm-up fetch", 0, 200, 0},
		{"one interval later", interval, 200, 1},
		{"just inside the next interval", interval - time.Nanosecond, 200, 0},
		{"at the next interval", time.Nanosecond, 200, 1},
		{"jwks failing, one interval later", interval, 500, 1},
		{"jwks failing, same instant", 0, 500, 0},
	}
	for _, st := range steps {
		e.clock.Advance(st.advance)
		e.idp.set(nil, st.status)
		if got := storm(); got != st.want {
			t.Fatalf("%s: %d JWKS fetches for %d unknown-kid requests, want %d",
				st.name, got, workers*perWorker, st.want)
		}
	}
	if a.srcs[0].Current() != warm {
		t.Fatal("the key set changed although every refetch returned the same set or failed")
	}
}

// E-06: after warm-up the JWKS goes down for longer than its TTL; cached
// keys keep verifying while the background refresh retries with backoff.
// The test waits for the retries as events, not for a time.
func TestOutageAfterWarmUpKeepsVerifying(t *testing.T) {
	e := newEnv(t, jwks.Options{BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Now: time.Now})
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
	// The TTL refresh, then three backoff retries, all failing.
	for i := int64(1); i <= 4; i++ {
		e.idp.waitHits(before + i)
		if err := authenticate(context.Background(), a, valid); err != nil {
			t.Fatalf("cached keys stopped verifying after %d failed refreshes: %v", i, err)
		}
	}
}
