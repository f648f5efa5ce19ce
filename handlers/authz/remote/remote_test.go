package remote

import (
	"context"
	"errors"
	"io"
	"net"
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

// seen is what the fake remote authorizer received.
type seen struct {
	method, path string
	header       http.Header
	body         string
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

func newFakeRemote(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, call int32)) *fakeRemote {
	t.Helper()
	f := &fakeRemote{respond: respond}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.last = seen{method: r.Method, path: r.URL.RequestURI(), header: r.Header.Clone(), body: string(b)}
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

func status(code int) func(http.ResponseWriter, *http.Request, int32) {
	return func(w http.ResponseWriter, _ *http.Request, _ int32) { w.WriteHeader(code) }
}

// newAuthorizer builds c. A config without a timeout gets a minute rather
// than the default 150ms: only a test about the timeout sets one, and no
// other outcome may depend on how busy the machine is.
func newAuthorizer(t *testing.T, c Config) pipeline.Authorizer {
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
	return &pipeline.Request{
		Method: "POST", Host: "api.test", Path: "/orders/42",
		Header: pipeline.Header{
			"content-type":  {"application/xml"},
			"authorization": {"Bearer abc.def.ghi"},
			"traceparent":   {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
			"x-client":      {"client-value"},
		},
		Body: []byte("<order id='42'/>"),
	}
}

func testSession() *pipeline.Session {
	return &pipeline.Session{Subject: "alice", Extra: map[string]any{"tenant": "acme"},
		MatchContext: pipeline.MatchContext{RegexpCaptureGroups: []string{"42"}}}
}

func TestAuthorizeSendsOriginalRequest(t *testing.T) {
	f := newFakeRemote(t, status(http.StatusOK))
	a := newAuthorizer(t, Config{Remote: f.URL + "/authz?x=1", Headers: map[string]string{
		"X-Subject": "{{ .Subject }}",
		"X-Tenant":  "{{ print .Extra.tenant }}",
		"X-Order":   "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}",
		"X-Empty":   "{{ print .Extra.missing }}",
	}})
	if err := a.Authorize(context.Background(), testRequest(), testSession()); err != nil {
		t.Fatal(err)
	}
	got := f.seen()
	checks := []struct{ name, got, want string }{
		{"method", got.method, http.MethodPost},
		{"path and query kept", got.path, "/authz?x=1"},
		{"body is the original body", got.body, "<order id='42'/>"},
		{"content type copied", got.header.Get("Content-Type"), "application/xml"},
		{"authorization not copied unless forward_http_headers asks", got.header.Get("Authorization"), ""},
		{"traceparent propagated", got.header.Get("Traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"subject template", got.header.Get("X-Subject"), "alice"},
		{"extra template", got.header.Get("X-Tenant"), "acme"},
		{"capture template", got.header.Get("X-Order"), "42"},
		{"other client headers not copied", got.header.Get("X-Client"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if _, ok := got.header["X-Empty"]; ok {
		t.Error("header that rendered empty was sent")
	}
}

func TestAuthorizeWithoutBodyOrCredentials(t *testing.T) {
	f := newFakeRemote(t, status(http.StatusOK))
	a := newAuthorizer(t, Config{Remote: f.URL})
	if err := a.Authorize(context.Background(), &pipeline.Request{Header: pipeline.Header{}}, &pipeline.Session{}); err != nil {
		t.Fatal(err)
	}
	got := f.seen()
	if got.body != "" || got.header.Get("Content-Type") != "" || got.header.Get("Authorization") != "" {
		t.Errorf("unexpected request %+v", got)
	}
}

func TestAuthorizeMapsStatus(t *testing.T) {
	tests := []struct {
		name       string
		respond    func(http.ResponseWriter, *http.Request, int32)
		wantStatus int
		wantID     string
		wantHeader pipeline.Header
	}{
		{name: "200 allows", respond: status(200), wantStatus: 200},
		{name: "403 denies", respond: status(403), wantStatus: 403, wantID: "remote_denied"},
		{name: "429 passes rate limit headers on", respond: func(w http.ResponseWriter, _ *http.Request, _ int32) {
			w.Header().Set("Retry-After", "7")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-Secret", "not copied")
			w.WriteHeader(429)
		}, wantStatus: 429, wantID: "remote_rate_limited", wantHeader: pipeline.Header{"retry-after": {"7"}, "x-ratelimit-remaining": {"0"}}},
		{name: "401 is unexpected", respond: status(401), wantStatus: 500, wantID: "remote_unexpected_status"},
		{name: "404 is unexpected", respond: status(404), wantStatus: 500, wantID: "remote_unexpected_status"},
		{name: "500 is unexpected", respond: status(500), wantStatus: 500, wantID: "remote_unexpected_status"},
		{name: "redirect is refused", respond: func(w http.ResponseWriter, r *http.Request, _ int32) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusFound)
		}, wantStatus: 500, wantID: "remote_unexpected_status"},
		{name: "body over the size limit", respond: func(w http.ResponseWriter, _ *http.Request, _ int32) {
			w.Write([]byte(strings.Repeat("x", 2<<20)))
		}, wantStatus: 500, wantID: "remote_response_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, tt.respond)
			err := newAuthorizer(t, Config{Remote: f.URL}).Authorize(context.Background(), testRequest(), testSession())
			if got := pipeline.StatusOf(err); got != tt.wantStatus {
				t.Fatalf("status = %d (%v), want %d", got, err, tt.wantStatus)
			}
			if got := pipeline.ReasonOf(err, ""); got != tt.wantID {
				t.Errorf("reason = %q, want %q", got, tt.wantID)
			}
			var pe *pipeline.Error
			if tt.wantHeader != nil && (!errors.As(err, &pe) || len(pe.Header) != len(tt.wantHeader) ||
				pe.Header.Get("retry-after") != "7" || pe.Header.Get("x-ratelimit-remaining") != "0") {
				t.Errorf("error header = %v, want %v", pe.Header, tt.wantHeader)
			}
			if err != nil && strings.Contains(err.Error(), "abc.def.ghi") {
				t.Errorf("error leaks the credential: %v", err)
			}
		})
	}
}

func TestForwardResponseHeadersSkipsAbsentOnes(t *testing.T) {
	f := newFakeRemote(t, func(w http.ResponseWriter, _ *http.Request, _ int32) {
		w.Header().Set("X-Foo", "from-remote")
		w.Header().Set("X-Not-Allowed", "no")
	})
	a := newAuthorizer(t, Config{Remote: f.URL, ForwardResponseHeadersToUpstream: []string{"X-Foo", "x-bar"}})
	s := testSession()
	if err := a.Authorize(context.Background(), testRequest(), s); err != nil {
		t.Fatal(err)
	}
	if got := s.Header.Get("x-foo"); got != "from-remote" {
		t.Errorf("x-foo = %q", got)
	}
	if _, ok := s.Header["x-bar"]; ok {
		t.Error(`absent x-bar was set (Oathkeeper sets it to "")`)
	}
	if len(s.RemoveHeaders) != 1 || s.RemoveHeaders[0] != "x-bar" {
		t.Errorf("remove headers = %v, want the absent x-bar removed so a client-sent copy cannot pass", s.RemoveHeaders)
	}
	if _, ok := s.Header["x-not-allowed"]; ok {
		t.Error("header not listed was forwarded")
	}
}

func TestForwardNothingOnDeny(t *testing.T) {
	f := newFakeRemote(t, func(w http.ResponseWriter, _ *http.Request, _ int32) {
		w.Header().Set("X-Foo", "v")
		w.WriteHeader(403)
	})
	s := testSession()
	err := newAuthorizer(t, Config{Remote: f.URL, ForwardResponseHeadersToUpstream: []string{"x-foo"}}).Authorize(context.Background(), testRequest(), s)
	if pipeline.StatusOf(err) != 403 || s.Header != nil {
		t.Errorf("err = %v, header = %v", err, s.Header)
	}
}

func TestHeaderWithControlCharacterFailsBeforeSending(t *testing.T) {
	f := newFakeRemote(t, status(200))
	a := newAuthorizer(t, Config{Remote: f.URL, Headers: map[string]string{"X-User": "{{ .Subject }}"}})
	s := testSession()
	s.Subject = "alice\r\nX-Admin: true"
	err := a.Authorize(context.Background(), testRequest(), s)
	if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != "remote_header_invalid" {
		t.Fatalf("err = %v", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("remote was called %d times", n)
	}
}

func TestUnreachableAndSlowRemoteFailClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	release := make(chan struct{})
	slow := newFakeRemote(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	dripping := newFakeRemote(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
		w.WriteHeader(200)
		for {
			w.Write([]byte(" "))
			w.(http.Flusher).Flush()
			select {
			case <-release:
				return
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	defer close(release)
	tests := []struct {
		name   string
		config Config
	}{
		{"connection refused", Config{Remote: closed}},
		{"slow-loris body is cut by the deadline (D-13)", Config{Remote: dripping.URL, Timeout: pipeline.Duration(150 * time.Millisecond)}},
		{"timeout", Config{Remote: slow.URL, Timeout: pipeline.Duration(100 * time.Millisecond)}},
		{"timeout with retries stops at give_up_after", Config{Remote: slow.URL, Timeout: pipeline.Duration(50 * time.Millisecond),
			Retry: &Retry{GiveUpAfter: pipeline.Duration(200 * time.Millisecond), MaxDelay: pipeline.Duration(20 * time.Millisecond)}}},
	}
	// slow and dripping never finish an answer: only the rule's timeout
	// and give_up_after can end these calls, and the reason says so.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := newAuthorizer(t, tt.config).Authorize(context.Background(), testRequest(), testSession())
			if pipeline.StatusOf(err) != 503 || pipeline.ReasonOf(err, "") != "remote_unavailable" {
				t.Fatalf("err = %v, want 503 remote_unavailable", err)
			}
		})
	}
}

func TestCallerContextCancellationFailsClosed(t *testing.T) {
	f := newFakeRemote(t, status(200))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newAuthorizer(t, Config{Remote: f.URL}).Authorize(ctx, testRequest(), testSession())
	if pipeline.StatusOf(err) != 503 {
		t.Fatalf("err = %v", err)
	}
}
