package hydrator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestCacheReusesAnswersForEqualSessions(t *testing.T) {
	type step struct {
		name      string
		change    func(r *pipeline.Request, s *pipeline.Session)
		advance   time.Duration
		wantCalls int
	}
	tests := []struct {
		name    string
		enabled bool
		steps   []step
	}{
		{name: "enabled", enabled: true, steps: []step{
			{name: "first request calls", wantCalls: 1},
			{name: "same session is a hit", wantCalls: 1},
			{name: "new trace and request id are still a hit", change: func(r *pipeline.Request, _ *pipeline.Session) {
				r.Header["traceparent"] = []string{"00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01"}
				r.Header["x-request-id"] = []string{"req-2"}
				r.Header["x-b3-traceid"] = []string{"abc"}
			}, wantCalls: 1},
			{name: "another credential misses (D-11)", change: func(r *pipeline.Request, _ *pipeline.Session) {
				r.Header["authorization"] = []string{"Bearer other"}
			}, wantCalls: 2},
			{name: "another subject misses", change: func(_ *pipeline.Request, s *pipeline.Session) { s.Subject = "bob" }, wantCalls: 3},
			{name: "another query misses", change: func(r *pipeline.Request, _ *pipeline.Session) { r.RawQuery = "expand=none" }, wantCalls: 4},
			{name: "an earlier mutator's header misses", change: func(_ *pipeline.Request, s *pipeline.Session) { s.Header = pipeline.Header{"x-user": {"eve"}} }, wantCalls: 5},
			{name: "after the ttl the entry is gone", advance: 31 * time.Second, wantCalls: 6},
		}},
		{name: "disabled", enabled: false, steps: []step{
			{name: "first request calls", wantCalls: 1},
			{name: "same session calls again", wantCalls: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, echo)
			m := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}, "cache": map[string]any{"enabled": tt.enabled, "ttl": "30s"}}, nil, NewCache(0, 0))
			now := time.Unix(1_800_000_000, 0)
			m.now = func() time.Time { return now }
			r, s := fixture()
			for _, st := range tt.steps {
				t.Run(st.name, func(t *testing.T) {
					now = now.Add(st.advance)
					if st.change != nil {
						st.change(r, s)
					}
					subject := s.Subject
					run := *s
					run.Extra = map[string]any{"scope": "read"}
					run.Header = s.Header.Clone()
					if err := m.Mutate(context.Background(), r, &run); err != nil {
						t.Fatal(err)
					}
					if got := rec.count(); got != st.wantCalls {
						t.Fatalf("calls = %d, want %d", got, st.wantCalls)
					}
					if run.Subject != subject || run.Extra["role"] != "admin" || run.Header.Get("x-role") != "admin" {
						t.Fatalf("session after mutate = %+v", run)
					}
				})
			}
		})
	}
}

func TestCacheHitsAreIndependentCopies(t *testing.T) {
	rec := newRecorder(t, echo)
	m := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}, "cache": map[string]any{"enabled": true}}, nil, NewCache(0, 0))
	r, s1 := fixture()
	if err := m.Mutate(context.Background(), r, s1); err != nil {
		t.Fatal(err)
	}
	_, s2 := fixture()
	if err := m.Mutate(context.Background(), r, s2); err != nil {
		t.Fatal(err)
	}
	s2.Extra["role"] = "tampered"
	s2.Header.Set("x-role", "tampered")
	_, s3 := fixture()
	if err := m.Mutate(context.Background(), r, s3); err != nil {
		t.Fatal(err)
	}
	if rec.count() != 1 || s3.Extra["role"] != "admin" || s3.Header.Get("x-role") != "admin" {
		t.Fatalf("calls %d, third session %+v", rec.count(), s3)
	}
}

func TestCacheNeverStoresFailures(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request, b []byte, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		echo(w, r, b, n)
	})
	m := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}, "cache": map[string]any{"enabled": true}}, nil, NewCache(0, 0))
	r, s := fixture()
	if err := m.Mutate(context.Background(), r, s); pipeline.ReasonOf(err, "") != "hydrator_unexpected_status" {
		t.Fatalf("first call: %v", err)
	}
	_, s = fixture()
	if err := m.Mutate(context.Background(), r, s); err != nil || rec.count() != 2 {
		t.Fatalf("second call: err %v, calls %d", err, rec.count())
	}
}

func TestCacheSeparatesRulesWithOtherCredentials(t *testing.T) {
	rec := newRecorder(t, echo)
	cache := NewCache(0, 0)
	cfg := func(user string) map[string]any {
		return map[string]any{"api": map[string]any{"url": rec.srv.URL, "auth": map[string]any{"basic": map[string]any{"username": user, "password": "x"}}},
			"cache": map[string]any{"enabled": true}}
	}
	a, b := build(t, cfg("rule-a"), nil, cache), build(t, cfg("rule-b"), nil, cache)
	for _, m := range []*Mutator{a, b, a, b} {
		r, s := fixture()
		if err := m.Mutate(context.Background(), r, s); err != nil {
			t.Fatal(err)
		}
	}
	if rec.count() != 2 {
		t.Fatalf("calls = %d, want one per credential", rec.count())
	}
}

func TestConcurrentMutateSharesTheCacheSafely(t *testing.T) {
	rec := newRecorder(t, echo)
	m := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}, "cache": map[string]any{"enabled": true}}, nil, NewCache(0, 0))
	errs := make(chan error, 16)
	for i := 0; i < cap(errs); i++ {
		go func() {
			r, s := fixture()
			errs <- m.Mutate(context.Background(), r, s)
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := rec.count(); n < 1 || n > cap(errs) {
		t.Fatalf("calls = %d", n)
	}
}

func BenchmarkMutateCacheHit(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echo(w, r, body, 1)
	}))
	defer srv.Close()
	c, err := decodeB(map[string]any{"api": map[string]any{"url": srv.URL}, "cache": map[string]any{"enabled": true}})
	if err != nil {
		b.Fatal(err)
	}
	h, err := New(c, outbound.New(outbound.Options{}), NewCache(0, 0))
	if err != nil {
		b.Fatal(err)
	}
	r, s0 := fixture()
	base := *s0
	if err := h.Mutate(context.Background(), r, s0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := base
		if err := h.Mutate(context.Background(), r, &s); err != nil {
			b.Fatal(err)
		}
	}
}

func decodeB(cfg map[string]any) (Config, error) {
	var c Config
	if err := pipeline.MapDecoder(cfg).Decode(&c); err != nil {
		return c, err
	}
	return c, c.Validate()
}
