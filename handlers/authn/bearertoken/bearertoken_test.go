package bearertoken

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/handlers/internal/session"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// tokenStore is a loopback session store that knows the token "good" (or
// "pfx.good"), whether it comes in Authorization or in the query.
func tokenStore(t *testing.T) (*httptest.Server, *atomic.Int32, *http.Request) {
	t.Helper()
	var calls atomic.Int32
	last := &http.Request{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		*last = *r.Clone(context.Background())
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if q := r.URL.Query().Get("token"); q != "" {
			tok = q
		}
		switch tok {
		case "good", "pfx.good":
			io.WriteString(w, `{"sub":"alice","extra":{"plan":"pro"},"subject":"other"}`)
		case "empty":
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
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

func req(query string, h pipeline.Header) *pipeline.Request {
	if h == nil {
		h = pipeline.Header{}
	}
	return &pipeline.Request{Method: "GET", Scheme: "https", Host: "api.test", Path: "/orders", RawPath: "/orders",
		RawQuery: query, Header: h}
}

func TestBearerToken(t *testing.T) {
	srv, _, last := tokenStore(t)
	bearer := func(tok string) pipeline.Header { return pipeline.Header{"authorization": {"Bearer " + tok}} }
	tests := []struct {
		name        string
		config      map[string]any
		query       string
		header      pipeline.Header
		wantErr     error
		wantStatus  int
		wantID      string
		wantSubject string
		check       func(t *testing.T, r *http.Request)
	}{
		{name: "no token is not responsible", wantErr: pipeline.ErrSkip},
		{name: "basic credentials are not a bearer token", header: pipeline.Header{"authorization": {"Basic YTpi"}}, wantErr: pipeline.ErrSkip},
		{name: "valid token, subject from sub by default", header: bearer("good"), wantSubject: "alice",
			check: func(t *testing.T, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer good" {
					t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
				}
			}},
		{name: "unknown token is 401", header: bearer("bad"), wantStatus: 401, wantID: session.IDRejected},
		{name: "two Authorization headers are ambiguous", header: pipeline.Header{"authorization": {"Bearer good", "Bearer bad"}},
			wantStatus: 401, wantID: token.ReasonAmbiguous},
		{name: "prefix mismatch is not responsible", config: map[string]any{"prefix": "pfx."}, header: bearer("good"), wantErr: pipeline.ErrSkip},
		{name: "prefix match", config: map[string]any{"prefix": "pfx."}, header: bearer("pfx.good"), wantSubject: "alice"},
		{name: "token_from header", config: map[string]any{"token_from": map[string]any{"header": "X-Token"},
			"forward_http_headers": []any{"X-Token"}}, header: pipeline.Header{"x-token": {"good"}, "authorization": {"Basic YTpi"}},
			wantStatus: 401, check: func(t *testing.T, r *http.Request) {
				if r.Header.Get("X-Token") != "good" || r.Header.Get("Authorization") != "Basic YTpi" {
					t.Errorf("headers %v", r.Header)
				}
			}},
		{name: "token_from query reaches the store with preserve_query false",
			config: map[string]any{"token_from": map[string]any{"query_parameter": "token"}, "preserve_query": false},
			query:  "token=good", wantSubject: "alice"},
		{name: "token_from query is not moved into a header",
			config: map[string]any{"token_from": map[string]any{"query_parameter": "token"}},
			query:  "token=good", wantStatus: 401},
		{name: "token_from cookie", config: map[string]any{"token_from": map[string]any{"cookie": "tok"}},
			header: pipeline.Header{"cookie": {"tok=good"}}, wantStatus: 401,
			check: func(t *testing.T, r *http.Request) {
				if r.Header.Get("Cookie") != "" {
					t.Errorf("Cookie forwarded without being listed: %q", r.Header.Get("Cookie"))
				}
			}},
		{name: "subject_from and extra_from", config: map[string]any{"subject_from": "subject", "extra_from": "extra"},
			header: bearer("good"), wantSubject: "other"},
		{name: "empty answer is an empty subject", header: bearer("empty"), wantSubject: ""},
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
			err = a.Authenticate(context.Background(), req(tt.query, tt.header), s)
			if tt.check != nil && !errors.Is(err, pipeline.ErrSkip) {
				defer tt.check(t, last)
			}
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			case tt.wantStatus != 0:
				if pipeline.StatusOf(err) != tt.wantStatus || tt.wantID != "" && pipeline.ReasonOf(err, "") != tt.wantID {
					t.Fatalf("err = %v, want %d %s", err, tt.wantStatus, tt.wantID)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if s.Subject != tt.wantSubject {
				t.Fatalf("subject = %q, want %q", s.Subject, tt.wantSubject)
			}
		})
	}
}

// TestOathkeeperE2ERule runs the bearer_token config of Oathkeeper's
// test/bearer-token e2e rule: the session store must get GET /session with
// the request query and answer 200 with an empty body.
func TestOathkeeperE2ERule(t *testing.T) {
	b, err := os.ReadFile("testdata/oathkeeper-e2e-rules.json")
	if err != nil {
		t.Fatal(err)
	}
	var rules []pipeline.RuleSpec
	if err := json.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	cfg := rules[0].Authenticators[0].Config
	cfg["check_session_url"] = srv.URL + "/session"
	a, err := build(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := req("token=token", nil)
	r.Method, r.Path, r.RawPath, r.Body = "POST", "/test", "/test", []byte("fk=fv")
	s := &pipeline.Session{Subject: "x"}
	if err := a.Authenticate(context.Background(), r, s); err != nil {
		t.Fatal(err)
	}
	if got.Method != "GET" || got.URL.RequestURI() != "/session?token=token" || len(body) != 0 || s.Subject != "" {
		t.Fatalf("store got %s %s body %q; subject %q", got.Method, got.URL.RequestURI(), body, s.Subject)
	}
}

func TestBearerTokenConfig(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{name: "every oathkeeper key is accepted", config: map[string]any{"check_session_url": "https://s.test/whoami",
			"token_from": map[string]any{"header": "X-Token"}, "prefix": "ory_st_", "preserve_path": true, "preserve_query": false,
			"preserve_host": true, "force_method": "GET", "forward_http_headers": []any{"Cookie"},
			"additional_headers": map[string]any{"X-A": "b"}, "extra_from": "@this", "subject_from": "identity.id",
			"cache": map[string]any{"enabled": true, "ttl": "5s", "max_entries": 10}, "timeout": "1s"}},
		{name: "only belongs to cookie_session", config: map[string]any{"check_session_url": "https://s.test", "only": []any{"a"}}, wantErr: "only"},
		{name: "two token locations", config: map[string]any{"check_session_url": "https://s.test",
			"token_from": map[string]any{"header": "a", "cookie": "b"}}, wantErr: "token_from: set only one"},
		{name: "unknown token_from key", config: map[string]any{"check_session_url": "https://s.test",
			"token_from": map[string]any{"body": "a"}}, wantErr: "body"},
		{name: "bad url", config: map[string]any{"check_session_url": "ftp://s.test"}, wantErr: `check_session_url: unsupported scheme "ftp"`},
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
		want := Config{CheckSessionURL: "https://s.test", SubjectFrom: "sub", ExtraFrom: "extra",
			PreservePath: c.PreservePath, PreserveQuery: c.PreserveQuery}
		if diff := cmp.Diff(want, c); diff != "" || !*c.PreservePath || !*c.PreserveQuery {
			t.Fatalf("defaults (-want +got):\n%s", diff)
		}
	})
}

func TestBearerTokenCacheIsKeyedOnTheToken(t *testing.T) {
	srv, calls, _ := tokenStore(t)
	a, err := build(t, map[string]any{"check_session_url": srv.URL, "cache": map[string]any{"enabled": true}})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		tok  string
		want int
	}{{"good", 200}, {"good", 200}, {"goo", 401}, {"goodx", 401}, {"good", 200}} {
		err := a.Authenticate(context.Background(), req("", pipeline.Header{"authorization": {"Bearer " + c.tok}}), &pipeline.Session{})
		if pipeline.StatusOf(err) != c.want {
			t.Fatalf("request %d: %v, want %d", i, err, c.want)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("store calls = %d, want 3", n)
	}
}

// TestSessionCallKeepsTheConfiguredPath is the bearer_token side of the
// issue #8 item 4 regression (see cookie_session's
// TestSessionCallGoesToTheConfiguredURL): an absent preserve_path keeps the
// path of check_session_url, so the client's path cannot pick the endpoint
// its token is sent to; an explicit false is Oathkeeper's replacement.
func TestSessionCallKeepsTheConfiguredPath(t *testing.T) {
	srv, calls, last := tokenStore(t)
	for _, tt := range []struct {
		name    string
		config  map[string]any
		wantURI string
	}{
		{name: "absent preserve_path", wantURI: "/introspect/session?v=1"},
		{name: "explicit preserve_path false", config: map[string]any{"preserve_path": false}, wantURI: "/admin/users?v=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]any{"check_session_url": srv.URL + "/introspect/session?v=1"}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			before := calls.Load()
			r := req("x=1", pipeline.Header{"authorization": {"Bearer good"}})
			r.RawPath, r.Path = "/admin/../admin/users", "/admin/users"
			if err := a.Authenticate(context.Background(), r, &pipeline.Session{}); err != nil {
				t.Fatal(err)
			}
			if calls.Load() != before+1 || last.URL.RequestURI() != tt.wantURI {
				t.Fatalf("store saw %q, want %q", last.URL.RequestURI(), tt.wantURI)
			}
		})
	}
}
