package remotejson

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

type seen struct {
	header http.Header
	body   string
}

// fakeRemote is a loopback authorizer that records requests and answers
// with respond.
type fakeRemote struct {
	*httptest.Server
	calls   atomic.Int32
	mu      sync.Mutex
	last    seen
	respond func(w http.ResponseWriter, r *http.Request, call int32)
}

func newFakeRemote(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, call int32)) *fakeRemote {
	t.Helper()
	f := &fakeRemote{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.last = seen{header: r.Header.Clone(), body: string(b)}
		f.mu.Unlock()
		f.respond(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRemote) seen() seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func answer(code int, body string) func(http.ResponseWriter, *http.Request, int32) {
	return func(w http.ResponseWriter, _ *http.Request, _ int32) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// newAuthorizer builds c. A config without a timeout gets a minute rather
// than the default 150ms: only a test about the timeout sets one, and no
// other outcome may depend on how busy the machine is.
func newAuthorizer(t testing.TB, c Config) pipeline.Authorizer {
	t.Helper()
	if c.Timeout == 0 {
		c.Timeout = pipeline.Duration(time.Minute)
	}
	a, err := New(c, outbound.New(outbound.Options{Timeout: time.Minute, MaxBodyBytes: 1 << 20}))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testRequest() *pipeline.Request {
	return &pipeline.Request{Method: "GET", Host: "api.test", Path: "/orders/42", Header: pipeline.Header{
		"authorization": {"Bearer abc.def.ghi"}, "content-type": {"text/plain"}}, Body: []byte("original body")}
}

func testSession() *pipeline.Session {
	return &pipeline.Session{Subject: "alice", Extra: map[string]any{"foo": "bar"},
		MatchContext: pipeline.MatchContext{RegexpCaptureGroups: []string{"baz"}, Method: "GET"}}
}

func TestAuthorizeSendsRenderedPayload(t *testing.T) {
	f := newFakeRemote(t, answer(200, ""))
	a := newAuthorizer(t, Config{Remote: f.URL,
		// Oathkeeper's "authentication session" test payload.
		Payload:            `{"subject":"{{ .Subject }}","extra":"{{ .Extra.foo }}","match":"{{ index .MatchContext.RegexpCaptureGroups 0 }}"}`,
		Headers:            map[string]string{"X-Method": "{{ .MatchContext.Method }}", "X-None": "{{ print .Extra.none }}"},
		ForwardHTTPHeaders: []string{"Authorization"}})
	if err := a.Authorize(context.Background(), testRequest(), testSession()); err != nil {
		t.Fatal(err)
	}
	got := f.seen()
	if want := `{"subject":"alice","extra":"bar","match":"baz"}`; got.body != want {
		t.Errorf("body = %s, want %s", got.body, want)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "Authorization": "Bearer abc.def.ghi", "X-Method": "GET"} {
		if v := got.header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if _, ok := got.header["X-None"]; ok {
		t.Error("empty header was sent")
	}
}

func TestPayloadMayBeAnyJSONText(t *testing.T) {
	f := newFakeRemote(t, answer(200, ""))
	a := newAuthorizer(t, Config{Remote: f.URL, Payload: `[{{ jsonQuote .Subject }}, {{ jsonQuote .Extra }}]`})
	if err := a.Authorize(context.Background(), testRequest(), testSession()); err != nil {
		t.Fatal(err)
	}
	if got := f.seen().body; got != `["alice", {"foo":"bar"}]` {
		t.Errorf("body = %s", got)
	}
}

func TestPayloadInjectionFailsClosed(t *testing.T) {
	f := newFakeRemote(t, answer(200, ""))
	s := testSession()
	s.Subject = `x"}`
	err := newAuthorizer(t, Config{Remote: f.URL, Payload: `{"sub":"{{ .Subject }}"}`}).Authorize(context.Background(), testRequest(), s)
	if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != "remote_json_payload_invalid" {
		t.Fatalf("err = %v", err)
	}
	if f.calls.Load() != 0 {
		t.Error("broken payload was sent")
	}
	// jsonQuote keeps the same subject inside its string.
	s.Subject = `x","admin":true,"y":"`
	if err := newAuthorizer(t, Config{Remote: f.URL, Payload: `{"sub":{{ jsonQuote .Subject }}}`}).Authorize(context.Background(), testRequest(), s); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(f.seen().body), &doc); err != nil || len(doc) != 1 || doc["sub"] != s.Subject {
		t.Errorf("payload = %s (%v)", f.seen().body, err)
	}
}

func TestAuthorizeMapsStatus(t *testing.T) {
	tests := []struct {
		name    string
		respond func(http.ResponseWriter, *http.Request, int32)
		status  int
		id      string
	}{
		{"200 allows", answer(200, "ok"), 200, ""},
		{"403 denies", answer(403, ""), 403, "remote_json_denied"},
		{"429 is passed on", func(w http.ResponseWriter, _ *http.Request, _ int32) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
		}, 429, "remote_json_rate_limited"},
		{"401 is unexpected", answer(401, ""), 500, "remote_json_unexpected_status"},
		{"500 is unexpected", answer(500, ""), 500, "remote_json_unexpected_status"},
		{"redirect is refused", func(w http.ResponseWriter, r *http.Request, _ int32) {
			http.Redirect(w, r, "http://127.0.0.66:9/", http.StatusTemporaryRedirect)
		}, 500, "remote_json_unexpected_status"},
		{"oversized body", answer(200, strings.Repeat("x", 2<<20)), 500, "remote_json_response_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, tt.respond)
			err := newAuthorizer(t, Config{Remote: f.URL, Payload: "{}"}).Authorize(context.Background(), testRequest(), testSession())
			if pipeline.StatusOf(err) != tt.status || pipeline.ReasonOf(err, "") != tt.id {
				t.Fatalf("err = %v, want %d %q", err, tt.status, tt.id)
			}
			var pe *pipeline.Error
			if tt.status == 429 && (!errors.As(err, &pe) || pe.Header.Get("retry-after") != "3") {
				t.Errorf("rate limit header lost: %v", err)
			}
		})
	}
}

func TestForwardHeadersAndTimeout(t *testing.T) {
	f := newFakeRemote(t, func(w http.ResponseWriter, _ *http.Request, _ int32) { w.Header().Set("X-Decision-Id", "d-1") })
	s := testSession()
	a := newAuthorizer(t, Config{Remote: f.URL, Payload: "{}", ForwardResponseHeadersToUpstream: []string{"x-decision-id", "x-absent"}})
	if err := a.Authorize(context.Background(), testRequest(), s); err != nil {
		t.Fatal(err)
	}
	if s.Header.Get("x-decision-id") != "d-1" || len(s.Header) != 1 || len(s.RemoveHeaders) != 1 || s.RemoveHeaders[0] != "x-absent" {
		t.Errorf("upstream headers = %v, removed %v", s.Header, s.RemoveHeaders)
	}

	// A remote that never answers is ended by the rule's timeout, the
	// only deadline there is.
	hanging := newFakeRemote(t, func(w http.ResponseWriter, r *http.Request, _ int32) { <-r.Context().Done() })
	err := newAuthorizer(t, Config{Remote: hanging.URL, Payload: "{}", Timeout: pipeline.Duration(80 * time.Millisecond)}).
		Authorize(context.Background(), testRequest(), testSession())
	if pipeline.StatusOf(err) != 503 || pipeline.ReasonOf(err, "") != "remote_json_unavailable" {
		t.Errorf("hanging remote: err = %v, want 503 remote_json_unavailable", err)
	}
}

func TestRetryRecoversFromTransient5xx(t *testing.T) {
	f := newFakeRemote(t, func(w http.ResponseWriter, _ *http.Request, call int32) {
		if call == 1 {
			w.WriteHeader(502)
		}
	})
	a := newAuthorizer(t, Config{Remote: f.URL, Payload: `{"a":1}`,
		Retry: &Retry{GiveUpAfter: pipeline.Duration(time.Minute), MaxDelay: pipeline.Duration(5 * time.Millisecond)}})
	if err := a.Authorize(context.Background(), testRequest(), testSession()); err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 2 || f.seen().body != `{"a":1}` {
		t.Errorf("calls = %d, body %q", f.calls.Load(), f.seen().body)
	}
}

// TestClientHeadersReachTheRemoteOnlyWhenListed: Oathkeeper always sent the
// client's Authorization; here no client header leaves unless the rule
// names it in forward_http_headers.
func TestClientHeadersReachTheRemoteOnlyWhenListed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		forward []string
		want    map[string]string
	}{
		{"none by default", nil, map[string]string{"Authorization": "", "Cookie": ""}},
		{"authorization listed", []string{"authorization"}, map[string]string{"Authorization": "Bearer abc.def.ghi", "Cookie": ""}},
		{"cookie listed", []string{"Cookie"}, map[string]string{"Authorization": "", "Cookie": "sid=s3cret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRemote(t, answer(200, ""))
			a := newAuthorizer(t, Config{Remote: f.URL, Payload: `{"sub":{{ jsonQuote .Subject }}}`, ForwardHTTPHeaders: tc.forward})
			r := testRequest()
			r.Header["cookie"] = []string{"sid=s3cret"}
			if err := a.Authorize(context.Background(), r, testSession()); err != nil {
				t.Fatal(err)
			}
			got := f.seen()
			for k, want := range tc.want {
				if v := got.header.Get(k); v != want {
					t.Errorf("%s = %q, want %q", k, v, want)
				}
			}
		})
	}
}
