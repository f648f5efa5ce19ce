package idtoken

import (
	"context"
	"crypto/elliptic"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// flakyJWKS is a key set endpoint that is down (in one of several ways)
// until up is called. Every request is reported on hits.
type flakyJWKS struct {
	down func(w http.ResponseWriter)
	hits chan struct{}

	mu  sync.Mutex
	doc []byte // nil while down
}

func (f *flakyJWKS) up(doc []byte) {
	f.mu.Lock()
	f.doc = doc
	f.mu.Unlock()
}

func (f *flakyJWKS) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	doc := f.doc
	f.mu.Unlock()
	defer func() {
		select {
		case f.hits <- struct{}{}:
		default:
		}
	}()
	if doc == nil {
		f.down(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}

// waitHits waits for n requests to the endpoint.
func waitHits(t *testing.T, hits <-chan struct{}, n int) {
	t.Helper()
	timer := time.NewTimer(time.Until(testDeadline(t)))
	defer timer.Stop()
	for range n {
		select {
		case <-hits:
		case <-timer.C:
			t.Fatal("key set endpoint not retried")
		}
	}
}

// TestUnavailableKeySetLoadsLater: a jwks_url that cannot be fetched when
// the rule is built does not fail the rule (issue #10 item 10). The rule
// answers 503 id_token_keys_unavailable, States reports the set missing
// with its error, Run retries with backoff, the outage is logged once, and
// the first successful fetch makes the rule sign.
func TestUnavailableKeySetLoadsLater(t *testing.T) {
	tests := []struct {
		name    string
		down    func(w http.ResponseWriter)
		wantErr string
	}{
		{name: "connection dropped", wantErr: "fetch jwks", down: func(w http.ResponseWriter) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}},
		{name: "not found", wantErr: "status 404", down: func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }},
		{name: "identity provider starting", wantErr: "status 503", down: func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flakyJWKS{down: tt.down, hits: make(chan struct{}, 100)}
			srv := httptest.NewServer(f)
			defer srv.Close()
			core, logs := observer.New(zapcore.DebugLevel)
			clk := newClock()
			s := NewSigners(Options{Client: outbound.New(outbound.Options{}), Logger: zap.New(core), Now: clk.Now,
				RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond})
			m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: srv.URL + "/jwks?key=s3cr3t"}, s)
			waitHits(t, f.hits, 1)

			err := m.Mutate(context.Background(), &pipeline.Request{}, &pipeline.Session{Subject: "alice"})
			if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != "id_token_keys_unavailable" {
				t.Fatalf("Mutate = %v, want 503 id_token_keys_unavailable", err)
			}
			assertMissing(t, s, srv.URL+"/jwks", tt.wantErr)
			if n := publishedSet(t, s).Len(); n != 0 {
				t.Fatalf("%d keys published before the set loaded", n)
			}

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			waitHits(t, f.hits, 3) // retries while the endpoint stays down
			assertMissing(t, s, srv.URL+"/jwks", tt.wantErr)

			f.up(jwksJSON(t, jwkOf(t, newECKey(t, elliptic.P256()), "kid", "k1")))
			deadline := testDeadline(t)
			for m.src.state.Load().keys == nil {
				if time.Now().After(deadline) {
					t.Fatal("key set never loaded after the endpoint came up")
				}
				time.Sleep(time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run returned %v", err)
			}
			verify(t, s, clk, bearer(t, mutate(t, m, "alice", nil)), testIssuer)
			if st := s.States(); len(st) != 1 || st[0].State != StatePresent || st[0].LastError != nil || st[0].Keys != 1 {
				t.Fatalf("States after recovery = %+v", st)
			}

			if n := logs.FilterLevelExact(zapcore.WarnLevel).Len(); n != 1 {
				t.Errorf("%d warnings, want exactly one for the outage: %v", n, logs.All())
			}
			if n := logs.FilterMessageSnippet("id_token signing keys loaded").Len(); n != 1 {
				t.Errorf("%d load lines, want 1: %v", n, logs.All())
			}
			for _, e := range logs.All() {
				if strings.Contains(e.Message+errString(e.ContextMap()), "s3cr3t") {
					t.Errorf("log leaks the jwks_url query: %v", e)
				}
			}
		})
	}
}

// TestMissingKeyFileLoadsLater: the same for a file:// key set mounted
// after start (a Kubernetes secret that appears late).
func TestMissingKeyFileLoadsLater(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jwks.json")
	s := NewSigners(Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond})
	a := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: "file://" + p}, s)
	b := newMutator(t, Config{IssuerURL: "https://other.test/", JWKSURL: "file://" + p}, s)
	if a.src != b.src {
		t.Fatal("two rules naming one missing key set do not share it")
	}
	assertMissing(t, s, "file://"+p, "no such file")

	if err := os.WriteFile(p, jwksJSON(t, jwkOf(t, newEdKey(t), "kid", "late")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := testDeadline(t)
	for a.src.state.Load().keys == nil {
		if time.Now().After(deadline) {
			t.Fatal("key file never loaded")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	mutate(t, a, "alice", nil)
	mutate(t, b, "bob", nil)
}

func assertMissing(t *testing.T, s *Signers, url, wantErr string) {
	t.Helper()
	st := s.States()
	if len(st) != 1 || st[0].URL != url || st[0].State != StateMissing || st[0].Keys != 0 || !st[0].LastSuccess.IsZero() {
		t.Fatalf("States = %+v, want %s missing", st, url)
	}
	if st[0].LastError == nil || !strings.Contains(st[0].LastError.Error(), wantErr) {
		t.Fatalf("state error %v, want %q", st[0].LastError, wantErr)
	}
	if st[0].FetchErrors == 0 {
		t.Fatal("a failed load is not counted in FetchErrors")
	}
}

func errString(m map[string]any) string {
	var b strings.Builder
	for _, v := range m {
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

func TestBackoffDoublesUpToRetryMax(t *testing.T) {
	s := NewSigners(Options{RetryMin: 100 * time.Millisecond, RetryMax: time.Second})
	tests := []struct {
		tries int
		base  time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{50, time.Second},
	}
	for _, tt := range tests {
		for range 20 {
			if d := s.backoff(tt.tries); d < tt.base || d > tt.base+tt.base/10 {
				t.Fatalf("backoff(%d) = %v, want %v plus at most 10%% jitter", tt.tries, d, tt.base)
			}
		}
	}
}
