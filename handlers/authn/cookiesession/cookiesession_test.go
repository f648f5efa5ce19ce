package cookiesession

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/handlers/internal/session"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// whoami is a loopback session store that accepts the cookie session=good.
func whoami(t *testing.T) (*httptest.Server, *atomic.Int32, *http.Request) {
	t.Helper()
	var calls atomic.Int32
	last := &http.Request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		*last = *r.Clone(context.Background())
		if c, err := r.Cookie("session"); err != nil || c.Value != "good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"subject":"alice","extra":{"email":"a@x"},"identity":{"id":"id-1"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, last
}

// build decodes raw strictly and builds the authenticator. A config
// without a timeout gets a minute rather than the default 150ms: no
// outcome here may depend on how busy the machine is.
func build(t *testing.T, raw map[string]any) (pipeline.Authenticator, error) {
	t.Helper()
	var c Config
	if err := pipeline.MapDecoder(raw).Decode(&c); err != nil {
		return nil, err
	}
	if c.Timeout == 0 {
		c.Timeout = pipeline.Duration(time.Minute)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return New(c, outbound.New(outbound.Options{}), session.NewStoreCache(remotecall.CacheOptions{}))
}

func req(cookie ...string) *pipeline.Request {
	h := pipeline.Header{}
	if len(cookie) > 0 {
		h["cookie"] = cookie
	}
	return &pipeline.Request{Method: "GET", Scheme: "https", Host: "api.test", Path: "/orders", RawPath: "/orders", Header: h}
}

func TestCookieSession(t *testing.T) {
	srv, _, last := whoami(t)
	tests := []struct {
		name        string
		config      map[string]any
		cookies     []string
		wantErr     error
		wantStatus  int
		wantSubject string
		wantExtra   map[string]any
		check       func(t *testing.T, r *http.Request)
	}{
		{name: "no cookie is not responsible", wantErr: pipeline.ErrSkip},
		{name: "malformed cookie pair is not a cookie", cookies: []string{"=x; ;"}, wantErr: pipeline.ErrSkip},
		{name: "valid session", cookies: []string{"session=good"}, wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"}},
		{name: "any cookie makes it responsible (oathkeeper #1017)", cookies: []string{"theme=dark"}, wantStatus: 401},
		{name: "only: other cookie is not responsible", config: map[string]any{"only": []any{"session"}},
			cookies: []string{"theme=dark"}, wantErr: pipeline.ErrSkip},
		{name: "only: listed cookie in a second header", config: map[string]any{"only": []any{"session"}},
			cookies: []string{"theme=dark", "a=1; session=good"}, wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"}},
		{name: "subject_from and extra_from", config: map[string]any{"subject_from": "identity.id", "extra_from": "@this"},
			cookies: []string{"session=good"}, wantSubject: "id-1", wantExtra: map[string]any{
				"subject": "alice", "extra": map[string]any{"email": "a@x"}, "identity": map[string]any{"id": "id-1"}}},
		{name: "cookie is forwarded without being listed", config: map[string]any{"forward_http_headers": []any{"X-Trace"}},
			cookies: []string{"session=good"}, wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"},
			check: func(t *testing.T, r *http.Request) {
				if r.Header.Get("Cookie") != "session=good" {
					t.Errorf("Cookie = %q", r.Header.Get("Cookie"))
				}
			}},
		{name: "preserve_path and preserve_query false", config: map[string]any{"preserve_path": true, "preserve_query": false,
			"check_session_url": srv.URL + "/sessions/whoami?x=1"}, cookies: []string{"session=good"},
			wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"},
			check: func(t *testing.T, r *http.Request) {
				if r.URL.RequestURI() != "/sessions/whoami" {
					t.Errorf("URI = %q", r.URL.RequestURI())
				}
			}},
		{name: "preserve_path and preserve_query default to true", config: map[string]any{"check_session_url": srv.URL + "/whoami?x=1"},
			cookies: []string{"session=good"}, wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"},
			check: func(t *testing.T, r *http.Request) {
				if r.URL.RequestURI() != "/whoami?x=1" {
					t.Errorf("URI = %q", r.URL.RequestURI())
				}
			}},
		{name: "explicit preserve_path false replaces the path", config: map[string]any{"check_session_url": srv.URL + "/whoami?x=1",
			"preserve_path": false}, cookies: []string{"session=good"}, wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"},
			check: func(t *testing.T, r *http.Request) {
				if r.URL.RequestURI() != "/orders?x=1" {
					t.Errorf("URI = %q", r.URL.RequestURI())
				}
			}},
		{name: "force_method, preserve_host and additional_headers", config: map[string]any{"force_method": "POST",
			"preserve_host": true, "additional_headers": map[string]any{"X-Tenant": "t1"}}, cookies: []string{"session=good"},
			wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"},
			check: func(t *testing.T, r *http.Request) {
				if r.Method != "POST" || r.Header.Get("X-Forwarded-Host") != "api.test" || r.Header.Get("X-Tenant") != "t1" {
					t.Errorf("method %s, headers %v", r.Method, r.Header)
				}
			}},
		{name: "cache and timeout keys are accepted", config: map[string]any{"cache": map[string]any{"enabled": true, "ttl": "10s",
			"max_entries": 100}, "timeout": "2s"}, cookies: []string{"session=good"}, wantSubject: "alice", wantExtra: map[string]any{"email": "a@x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]any{"check_session_url": srv.URL}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			s := &pipeline.Session{}
			err = a.Authenticate(context.Background(), req(tt.cookies...), s)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case tt.wantStatus != 0:
				if pipeline.StatusOf(err) != tt.wantStatus {
					t.Fatalf("err = %v, want status %d", err, tt.wantStatus)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if s.Subject != tt.wantSubject {
				t.Fatalf("subject = %q, want %q", s.Subject, tt.wantSubject)
			}
			if diff := cmp.Diff(tt.wantExtra, s.Extra); diff != "" {
				t.Fatalf("extra (-want +got):\n%s", diff)
			}
			if tt.check != nil {
				tt.check(t, last)
			}
		})
	}
}

func TestCookieSessionConfig(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{name: "every oathkeeper key is accepted", config: map[string]any{"check_session_url": "https://store.test/whoami",
			"only": []any{"ory_kratos_session"}, "preserve_path": true, "preserve_query": false, "preserve_host": true,
			"force_method": "GET", "forward_http_headers": []any{"Authorization"}, "additional_headers": map[string]any{"X-A": "b"},
			"extra_from": "@this", "subject_from": "identity.id"}},
		{name: "unknown key", config: map[string]any{"check_session_url": "https://s.test", "token_from": map[string]any{}}, wantErr: "token_from"},
		{name: "missing check_session_url", config: map[string]any{}, wantErr: "check_session_url: is required"},
		{name: "bad only entry", config: map[string]any{"check_session_url": "https://s.test", "only": []any{"a b"}}, wantErr: `only[0]: invalid cookie name "a b"`},
		{name: "wrong type", config: map[string]any{"check_session_url": "https://s.test", "preserve_query": "yes"}, wantErr: "preserve_query"},
		{name: "bad timeout", config: map[string]any{"check_session_url": "https://s.test", "timeout": "soon"}, wantErr: "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.config)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		c := Config{CheckSessionURL: "https://s.test"}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.SubjectFrom != "subject" || c.ExtraFrom != "extra" || c.PreserveQuery == nil || !*c.PreserveQuery ||
			c.PreservePath == nil || !*c.PreservePath {
			t.Fatalf("defaults = %+v", c)
		}
	})
}

func TestCookieSessionCacheKeepsSessionsApart(t *testing.T) {
	srv, calls, _ := whoami(t)
	a, err := build(t, map[string]any{"check_session_url": srv.URL, "cache": map[string]any{"enabled": true}})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		cookie string
		want   int
	}{{"session=good", 200}, {"session=good", 200}, {"session=good; x=1", 200}, {"session=bad", 401}, {"session=good", 200}} {
		err := a.Authenticate(context.Background(), req(c.cookie), &pipeline.Session{})
		if pipeline.StatusOf(err) != c.want {
			t.Fatalf("request %d (%s): %v, want %d", i, c.cookie, err, c.want)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("store calls = %d, want 3", n)
	}
}

// TestSessionCallGoesToTheConfiguredURL is the regression test of issue #8
// item 4: without preserve_path, Oathkeeper replaced the path of
// check_session_url with the client's, so any client could steer the
// session call to any path on the session store's host. Here an absent
// preserve_path keeps the configured path (and query); only an explicit
// false brings Oathkeeper's replacement back.
func TestSessionCallGoesToTheConfiguredURL(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.RequestURI())
		mu.Unlock()
		if r.URL.Path == "/sessions/whoami" {
			io.WriteString(w, `{"subject":"alice"}`)
			return
		}
		// Another endpoint of the store's host that also answers 200.
		io.WriteString(w, `{"subject":"admin"}`)
	}))
	t.Cleanup(srv.Close)
	requests := []struct{ method, raw, path, query string }{
		{"GET", "/orders", "/orders", ""},
		{"DELETE", "/admin/../whatever", "/whatever", "x=1"},
		{"GET", "/admin/users", "/admin/users", "tenant=evil"},
		{"POST", "/sessions/whoami/../../admin", "/admin", ""},
	}
	tests := []struct {
		name   string
		config map[string]any
		want   func(method, path, query string) string
	}{
		{name: "absent keys keep the configured path and query", want: func(m, _, _ string) string { return m + " /sessions/whoami?tenant=a" }},
		{name: "preserve_path true", config: map[string]any{"preserve_path": true},
			want: func(m, _, _ string) string { return m + " /sessions/whoami?tenant=a" }},
		{name: "preserve_path false is Oathkeeper's replacement", config: map[string]any{"preserve_path": false},
			want: func(m, p, _ string) string { return m + " " + p + "?tenant=a" }},
		{name: "preserve_query false replaces only the query", config: map[string]any{"preserve_query": false},
			want: func(m, _, q string) string { return strings.TrimSuffix(m+" /sessions/whoami?"+q, "?") }},
		{name: "force_method", config: map[string]any{"force_method": "GET"},
			want: func(string, string, string) string { return "GET /sessions/whoami?tenant=a" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]any{"check_session_url": srv.URL + "/sessions/whoami?tenant=a"}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			for _, rq := range requests {
				mu.Lock()
				seen = nil
				mu.Unlock()
				r := req("session=good")
				r.Method, r.RawPath, r.Path, r.RawQuery = rq.method, rq.raw, rq.path, rq.query
				s := &pipeline.Session{}
				if err := a.Authenticate(context.Background(), r, s); err != nil {
					t.Fatalf("%s %s: %v", rq.method, rq.raw, err)
				}
				want := tt.want(rq.method, rq.path, rq.query)
				mu.Lock()
				got := seen
				mu.Unlock()
				if len(got) != 1 || got[0] != want {
					t.Fatalf("%s %s: session store saw %q, want [%q]", rq.method, rq.raw, got, want)
				}
				if wantSub := map[bool]string{true: "alice", false: "admin"}[strings.Contains(want, " /sessions/whoami")]; s.Subject != wantSub {
					t.Fatalf("subject = %q, want %q", s.Subject, wantSub)
				}
			}
		})
	}
}
