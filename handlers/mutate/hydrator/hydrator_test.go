package hydrator

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// recorder is a loopback hydration API that records what it receives.
type recorder struct {
	mu     sync.Mutex
	calls  int
	bodies [][]byte
	reqs   []*http.Request
	reply  func(w http.ResponseWriter, r *http.Request, body []byte, call int)
	srv    *httptest.Server
}

func newRecorder(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, body []byte, call int)) *recorder {
	t.Helper()
	rec := &recorder{reply: reply}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.calls++
		n := rec.calls
		rec.bodies = append(rec.bodies, body)
		rec.reqs = append(rec.reqs, r)
		rec.mu.Unlock()
		rec.reply(w, r, body, n)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.calls
}

// echo answers with the received session plus a role, as a typical
// hydrator does.
func echo(w http.ResponseWriter, _ *http.Request, body []byte, _ int) {
	var s map[string]any
	_ = json.Unmarshal(body, &s)
	extra, _ := s["extra"].(map[string]any)
	if extra == nil {
		extra = map[string]any{}
	}
	extra["role"] = "admin"
	s["extra"] = extra
	s["header"] = map[string][]string{"X-User": {"alice"}, "X-Role": {"admin"}}
	_ = json.NewEncoder(w).Encode(s)
}

func fixture() (*pipeline.Request, *pipeline.Session) {
	r := &pipeline.Request{
		ID: "req-1", Method: "GET", Scheme: "https", Host: "api.test", RawPath: "/users/42", Path: "/users/42",
		RawQuery: "expand=roles&tenant=evil",
		Header: pipeline.Header{
			":authority": {"api.test"}, ":path": {"/users/42?expand=roles&tenant=evil"}, ":method": {"GET"},
			"authorization": {"Bearer client-token"}, "cookie": {"session=abc"}, "x-custom": {"a", "b"},
			"traceparent":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			"x-request-id": {"req-1"}, "connection": {"close"}, "accept-encoding": {"br"}, "content-type": {"text/plain"},
		},
	}
	s := &pipeline.Session{
		Subject: "alice",
		Extra:   map[string]any{"scope": "read", "level": 3.0},
		Header:  pipeline.Header{"x-user": {"alice"}},
		MatchContext: pipeline.MatchContext{
			RegexpCaptureGroups: []string{"42"}, URL: r.URL(), Method: "GET", Header: r.Header,
		},
	}
	return r, s
}

// build decodes cfg and builds the mutator with client (nil: a default
// one). A config without api.retry.give_up_after gets a minute rather
// than the default 150ms: only a test about the deadline sets one, and no
// other outcome may depend on how busy the machine is.
func build(t *testing.T, cfg map[string]any, client *outbound.Client, cache *Cache) *Mutator {
	t.Helper()
	if api, ok := cfg["api"].(map[string]any); ok {
		retry, _ := api["retry"].(map[string]any)
		if retry["give_up_after"] == nil {
			retry = maps.Clone(retry)
			if retry == nil {
				retry = map[string]any{}
			}
			retry["give_up_after"] = "1m"
			api = maps.Clone(api)
			api["retry"] = retry
			cfg = maps.Clone(cfg)
			cfg["api"] = api
		}
	}
	c, err := decode(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if client == nil {
		client = outbound.New(outbound.Options{Timeout: time.Minute})
	}
	m, err := New(c, client, cache)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*Mutator)
}

func TestWireFormatMatchesOathkeeper(t *testing.T) {
	for _, basic := range []bool{false, true} {
		name := "without basic auth forwards the client's authorization"
		if basic {
			name = "with basic auth replaces the client's authorization"
		}
		t.Run(name, func(t *testing.T) {
			rec := newRecorder(t, echo)
			api := map[string]any{"url": rec.srv.URL + "/hydrate?tenant=acme"}
			if basic {
				api["auth"] = map[string]any{"basic": map[string]any{"username": "gw", "password": "p4ss"}}
			}
			r, s := fixture()
			if err := build(t, map[string]any{"api": api}, nil, nil).Mutate(context.Background(), r, s); err != nil {
				t.Fatal(err)
			}
			if rec.count() != 1 {
				t.Fatalf("calls = %d, want 1", rec.count())
			}
			got, req := rec.bodies[0], rec.reqs[0]

			golden, err := os.ReadFile("testdata/session.golden.json")
			if err != nil {
				t.Fatal(err)
			}
			var want, have any
			_ = json.Unmarshal(golden, &want)
			if err := json.Unmarshal(got, &have); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if diff := cmp.Diff(want, have); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}

			checks := []struct{ what, got, want string }{
				{"method", req.Method, http.MethodPost},
				{"path", req.URL.Path, "/hydrate"},
				{"query: client params kept, configured params win", req.URL.RawQuery, "expand=roles&tenant=acme"},
				{"content-type", req.Header.Get("Content-Type"), "application/json"},
				{"cookie forwarded", req.Header.Get("Cookie"), "session=abc"},
				{"multi-valued header forwarded", strings.Join(req.Header.Values("X-Custom"), "|"), "a|b"},
				{"traceparent forwarded", req.Header.Get("Traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
				{"request id forwarded", req.Header.Get("X-Request-Id"), "req-1"},
				{"client accept-encoding not forwarded", req.Header.Get("Accept-Encoding"), "gzip"},
				{"pseudo-headers not forwarded", req.Header.Get(":authority"), ""},
				{"host is the API's", req.Host, strings.TrimPrefix(rec.srv.URL, "http://")},
			}
			if basic {
				u, p, ok := req.BasicAuth()
				checks = append(checks, struct{ what, got, want string }{"basic auth", u + ":" + p + ":" + boolStr(ok), "gw:p4ss:true"})
			} else {
				checks = append(checks, struct{ what, got, want string }{"authorization forwarded", req.Header.Get("Authorization"), "Bearer client-token"})
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}

			wantExtra := map[string]any{"scope": "read", "level": 3.0, "role": "admin"}
			if diff := cmp.Diff(wantExtra, s.Extra); diff != "" {
				t.Errorf("extra (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(pipeline.Header{"x-user": {"alice"}, "x-role": {"admin"}}, s.Header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestWireFallsBackToTheRequestWithoutMatchContext(t *testing.T) {
	rec := newRecorder(t, echo)
	r, _ := fixture()
	s := &pipeline.Session{Subject: "alice"}
	if err := build(t, map[string]any{"api": map[string]any{"url": rec.srv.URL}}, nil, nil).Mutate(context.Background(), r, s); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Extra        map[string]any `json:"extra"`
		Header       http.Header    `json:"header"`
		MatchContext struct {
			URL    map[string]any `json:"url"`
			Method string         `json:"method"`
			Header http.Header    `json:"header"`
		} `json:"match_context"`
	}
	if err := json.Unmarshal(rec.bodies[0], &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Extra != nil || doc.Header != nil {
		t.Errorf("unset extra/header should be null, got %v %v", doc.Extra, doc.Header)
	}
	if doc.MatchContext.URL["Path"] != "/users/42" || doc.MatchContext.URL["Host"] != "api.test" || doc.MatchContext.Method != "GET" {
		t.Errorf("match_context from request = %+v", doc.MatchContext)
	}
	if doc.MatchContext.Header.Get("Cookie") != "session=abc" {
		t.Errorf("match_context.header = %v", doc.MatchContext.Header)
	}
}
