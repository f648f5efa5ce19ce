package oauth2cc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
)

// patient retries for a minute: no grant here may fail for lack of time.
var patient = remotecall.Retry{MaxDelay: time.Millisecond, Budget: time.Minute, AttemptTimeout: time.Minute}

// waitingContext reports on waiting when Token starts to wait on it for
// an answer (its first call of Done), after the cache and the grants in
// flight were consulted.
type waitingContext struct {
	context.Context
	waiting chan<- struct{}
	once    *sync.Once
}

func newWaitingContext(ctx context.Context, waiting chan<- struct{}) waitingContext {
	return waitingContext{Context: ctx, waiting: waiting, once: new(sync.Once)}
}

func (c waitingContext) Done() <-chan struct{} {
	c.once.Do(func() { c.waiting <- struct{}{} })
	return c.Context.Done()
}

func TestTokensAreCachedPerClientAndSecret(t *testing.T) {
	e := newEndpoint(t, 200, `{"access_token":"at","expires_in":3600}`)
	s, err := New(Options{TokenURL: e.URL, Cache: true, Retry: patient}, outbound.New(outbound.Options{}), NewCache(remotecall.CacheOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, secret string }{{"a", "1"}, {"a", "1"}, {"a", "2"}, {"b", "1"}, {"a", "2"}} {
		if _, err := s.Token(context.Background(), nil, c.id, c.secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.calls.Load(); n != 3 {
		t.Fatalf("grants = %d, want 3 (a:1, a:2, b:1)", n)
	}
	s.Forget("a", "1")
	if _, err := s.Token(context.Background(), nil, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if n := e.calls.Load(); n != 4 {
		t.Fatalf("grants after Forget = %d, want 4", n)
	}
}

func TestCacheUntil(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	tests := []struct {
		name  string
		o     Options
		tok   Token
		want  time.Time
		never bool
	}{
		{name: "expiry less the refresh margin", tok: Token{Expiry: now.Add(time.Hour)}, want: now.Add(time.Hour - 10*time.Second)},
		{name: "short-lived token keeps three quarters", tok: Token{Expiry: now.Add(20 * time.Second)}, want: now.Add(15 * time.Second)},
		{name: "ttl shorter than the token", o: Options{CacheTTL: time.Minute}, tok: Token{Expiry: now.Add(time.Hour)}, want: now.Add(time.Minute)},
		{name: "token shorter than the ttl", o: Options{CacheTTL: 2 * time.Hour}, tok: Token{Expiry: now.Add(time.Hour)}, want: now.Add(time.Hour - 10*time.Second)},
		{name: "no expiry and no ttl is not cached", never: true},
		{name: "no expiry uses the ttl", o: Options{CacheTTL: time.Minute}, want: now.Add(time.Minute)},
		{name: "no expiry uses NoExpiryTTL", o: Options{NoExpiryTTL: time.Hour}, want: now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&Source{o: tt.o}).cacheUntil(tt.tok, now)
			if tt.never != got.IsZero() || !tt.never && !got.Equal(tt.want) {
				t.Fatalf("cacheUntil = %v, want %v (never %v)", got, tt.want, tt.never)
			}
		})
	}
}

func TestConcurrentMissesShareOneGrant(t *testing.T) {
	e := newEndpoint(t, 200, `{"access_token":"at","expires_in":3600}`)
	e.gate = make(chan struct{})
	s, err := New(Options{TokenURL: e.URL, Cache: true, Retry: patient}, outbound.New(outbound.Options{}), NewCache(remotecall.CacheOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	waiting := make(chan struct{}, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Token(newWaitingContext(context.Background(), waiting), nil, "id", "secret")
			errs <- err
		}()
	}
	// The grant is held at the gate until every caller waits for an
	// answer, after missing the cache and joining the grant in flight.
	for range 8 {
		<-waiting
	}
	close(e.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("grants = %d, want 1", n)
	}
}

func TestCallerGivingUpDoesNotCancelTheSharedGrant(t *testing.T) {
	e := newEndpoint(t, 200, `{"access_token":"at","expires_in":3600}`)
	e.gate = make(chan struct{})
	s, err := New(Options{TokenURL: e.URL, Cache: true, Retry: patient}, outbound.New(outbound.Options{}), NewCache(remotecall.CacheOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan struct{}, 1)
	go func() {
		<-waiting
		cancel() // the caller gives up while the grant is held at the gate
	}()
	if _, err := s.Token(newWaitingContext(ctx, waiting), nil, "id", "secret"); err == nil {
		t.Fatal("impatient caller got a token")
	}
	s.mu.Lock()
	g := s.flight[s.key("id", "secret")]
	s.mu.Unlock()
	if g == nil {
		t.Fatal("the grant ended with its caller")
	}
	close(e.gate)
	<-g.done // the abandoned grant completes and fills the cache
	if _, err := s.Token(context.Background(), nil, "id", "secret"); err != nil || e.calls.Load() != 1 {
		t.Fatalf("err %v, grants %d: the abandoned grant should have filled the cache", err, e.calls.Load())
	}
}
