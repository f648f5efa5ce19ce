package session

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// options are cookie_session's options for the store at url. The timeout
// is a minute rather than the default 150ms: only a test about the
// timeout sets a short one, and no other outcome may depend on how busy
// the machine is.
func options(url string) Options {
	return Options{Handler: "cookie_session", CheckSessionURL: url,
		SubjectFrom: "subject", ExtraFrom: "extra", Always: []string{"Cookie"}, Timeout: time.Minute}
}

func TestCallBuildsTheSessionRequest(t *testing.T) {
	cookie := pipeline.Header{"cookie": {"session=abc"}, "x-api-key": {"k1"}, "x-other": {"o"}}
	tests := []struct {
		name       string
		mod        func(o *Options)
		in         func(r *pipeline.Request)
		wantMethod string
		wantURI    string
		wantHeader http.Header
	}{
		{name: "configured path and query kept by default", wantMethod: "GET", wantURI: "/sessions/whoami?tenant=a",
			wantHeader: http.Header{"Cookie": {"session=abc"}}},
		{name: "replaced path (preserve_path: false) keeps the configured query", mod: func(o *Options) { o.ReplacePath = true },
			wantMethod: "GET", wantURI: "/orders/1?tenant=a"},
		{name: "replaced query (preserve_query: false) keeps the configured path", mod: func(o *Options) { o.ReplaceQuery = true },
			wantMethod: "GET", wantURI: "/sessions/whoami?page=2"},
		{name: "both replaced", mod: func(o *Options) { o.ReplacePath, o.ReplaceQuery = true, true },
			wantMethod: "GET", wantURI: "/orders/1?page=2"},
		{name: "request method is forwarded", in: func(r *pipeline.Request) { r.Method = "DELETE" },
			wantMethod: "DELETE", wantURI: "/sessions/whoami?tenant=a"},
		{name: "HEAD is asked as GET (oathkeeper #1172)", in: func(r *pipeline.Request) { r.Method = "HEAD" },
			wantMethod: "GET", wantURI: "/sessions/whoami?tenant=a"},
		{name: "force_method wins", mod: func(o *Options) { o.ForceMethod = "POST" },
			in: func(r *pipeline.Request) { r.Method = "HEAD" }, wantMethod: "POST", wantURI: "/sessions/whoami?tenant=a"},
		{name: "replaced path is the decoded path re-encoded", mod: func(o *Options) { o.ReplacePath = true },
			in: func(r *pipeline.Request) { r.Path = "/a b/ü" }, wantMethod: "GET", wantURI: "/a%20b/%C3%BC?tenant=a"},
		{name: "forward_http_headers match case-insensitively", mod: func(o *Options) { o.ForwardHTTPHeaders = []string{"x-API-key"} },
			wantMethod: "GET", wantURI: "/sessions/whoami?tenant=a",
			wantHeader: http.Header{"Cookie": {"session=abc"}, "X-Api-Key": {"k1"}, "X-Other": nil}},
		{name: "additional_headers are set", mod: func(o *Options) { o.AdditionalHeaders = map[string]string{"x-tenant": "t1"} },
			wantMethod: "GET", wantURI: "/sessions/whoami?tenant=a", wantHeader: http.Header{"X-Tenant": {"t1"}}},
		{name: "preserve_host wins over additional_headers", mod: func(o *Options) {
			o.PreserveHost = true
			o.AdditionalHeaders = map[string]string{"X-Forwarded-Host": "evil.test"}
		}, wantMethod: "GET", wantURI: "/sessions/whoami?tenant=a", wantHeader: http.Header{"X-Forwarded-Host": {"api.test"}}},
		{name: "no X-Forwarded-Host without preserve_host", wantMethod: "GET", wantURI: "/sessions/whoami?tenant=a",
			wantHeader: http.Header{"X-Forwarded-Host": nil}},
		{name: "host and content-length are never copied", mod: func(o *Options) { o.ForwardHTTPHeaders = []string{"Host", "Content-Length"} },
			in: func(r *pipeline.Request) {
				r.Header["host"] = []string{"evil.test"}
				r.Header["content-length"] = []string{"12"}
			},
			wantMethod: "GET", wantURI: "/sessions/whoami?tenant=a", wantHeader: http.Header{"Content-Length": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t, 200, `{"subject":"alice"}`)
			o := options(st.URL + "/sessions/whoami?tenant=a")
			if tt.mod != nil {
				tt.mod(&o)
			}
			c, err := New(o, outbound.New(outbound.Options{}), nil)
			if err != nil {
				t.Fatal(err)
			}
			r := request(cookie.Clone())
			if tt.in != nil {
				tt.in(r)
			}
			if err := c.Authenticate(context.Background(), r, &pipeline.Session{}); err != nil {
				t.Fatal(err)
			}
			_, got, body := st.seen()
			if got.Method != tt.wantMethod || got.RequestURI != tt.wantURI {
				t.Fatalf("got %s %s, want %s %s", got.Method, got.RequestURI, tt.wantMethod, tt.wantURI)
			}
			if body != "" {
				t.Fatalf("request body forwarded: %q", body)
			}
			if got.Host != strings.TrimPrefix(st.URL, "http://") {
				t.Fatalf("Host = %q", got.Host)
			}
			for k, want := range tt.wantHeader {
				if diff := cmp.Diff(want, got.Header[k]); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func TestCallMapsTheAnswer(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		answer      string
		header      http.Header
		subjectFrom string
		extraFrom   string
		wantStatus  int
		wantID      string
		wantSubject string
		wantExtra   map[string]any
		wantHeader  pipeline.Header
	}{
		{name: "200 with subject and extra", status: 200, answer: `{"subject":"alice","extra":{"role":"admin"}}`,
			wantSubject: "alice", wantExtra: map[string]any{"role": "admin"}},
		{name: "subject_from and extra_from are gjson paths", status: 200, answer: `{"identity":{"id":"bob","traits":{"a":1}}}`,
			subjectFrom: "identity.id", extraFrom: "identity.traits", wantSubject: "bob", wantExtra: map[string]any{"a": float64(1)}},
		{name: "extra_from @this is the whole body", status: 200, answer: `{"subject":"c"}`, extraFrom: "@this",
			wantSubject: "c", wantExtra: map[string]any{"subject": "c"}},
		{name: "missing paths give an empty session", status: 200, answer: `{}`},
		{name: "null subject is empty", status: 200, answer: `{"subject":null,"extra":null}`},
		{name: "empty body is an empty session", status: 200, answer: ``},
		{name: "subject array is 403", status: 200, answer: `{"subject":["admin"]}`, wantStatus: 403, wantID: IDBadSubject},
		{name: "subject number is 403", status: 200, answer: `{"subject":1}`, wantStatus: 403, wantID: IDBadSubject},
		{name: "extra string is 403", status: 200, answer: `{"subject":"a","extra":"x"}`, wantStatus: 403, wantID: IDBadExtra},
		{name: "duplicate keys are 403 (D-17)", status: 200, answer: `{"identity":{"id":"alice"},"identity":{"id":"admin"}}`,
			subjectFrom: "identity.id", wantStatus: 403, wantID: IDInvalidJSON},
		{name: "non-json body is 403", status: 200, answer: `<html>`, wantStatus: 403, wantID: IDInvalidJSON},
		{name: "429 passes rate-limit headers on", status: 429, header: http.Header{"Retry-After": {"7"}, "X-Ratelimit-Limit": {"10"},
			"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Reset": {"7"}, "X-Ratelimit-Type": {"user"}, "X-Other": {"no"}},
			wantStatus: 429, wantID: IDRateLimited, wantHeader: pipeline.Header{"retry-after": {"7"}, "x-ratelimit-limit": {"10"},
				"x-ratelimit-remaining": {"0"}, "x-ratelimit-reset": {"7"}, "x-ratelimit-type": {"user"}}},
		{name: "401 is 401", status: 401, wantStatus: 401, wantID: IDRejected},
		{name: "500 is 401 as in oathkeeper", status: 500, wantStatus: 401, wantID: IDRejected},
		{name: "201 is 401", status: 201, answer: `{"subject":"alice"}`, wantStatus: 401, wantID: IDRejected},
		{name: "redirect is refused (D-03)", status: 302, header: http.Header{"Location": {"http://127.0.0.66:9/latest/meta-data/"}},
			wantStatus: 401, wantID: IDRedirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t, tt.status, tt.answer)
			st.header = tt.header
			o := options(st.URL)
			if tt.subjectFrom != "" {
				o.SubjectFrom = tt.subjectFrom
			}
			if tt.extraFrom != "" {
				o.ExtraFrom = tt.extraFrom
			}
			c, err := New(o, outbound.New(outbound.Options{}), nil)
			if err != nil {
				t.Fatal(err)
			}
			s := &pipeline.Session{Subject: "stale"}
			err = c.Authenticate(context.Background(), request(nil), s)
			if tt.wantStatus != 0 {
				var pe *pipeline.Error
				if !errors.As(err, &pe) || pe.Status != tt.wantStatus || pe.ID != tt.wantID {
					t.Fatalf("err = %v, want %d %s", err, tt.wantStatus, tt.wantID)
				}
				if diff := cmp.Diff(tt.wantHeader, pe.Header); diff != "" {
					t.Fatalf("error header (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Subject != tt.wantSubject || !cmp.Equal(s.Extra, tt.wantExtra) {
				t.Fatalf("session = %q %v, want %q %v", s.Subject, s.Extra, tt.wantSubject, tt.wantExtra)
			}
		})
	}
}

func TestCallFailsClosedOnTransportProblems(t *testing.T) {
	// slow's body never ends (D-13's slow loris): only the call's 200ms
	// timeout can end it. The other cases keep the minute of options.
	slow := newStore(t, 200, "")
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before slow.Close
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte(`{"subject":`))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	big := newStore(t, 200, `{"subject":"`+strings.Repeat("a", 2048)+`"}`)
	down := newStore(t, 200, "")
	down.Close()

	tests := []struct {
		name       string
		url        string
		client     *outbound.Client
		timeout    time.Duration // 0: the minute of options
		wantStatus int
		wantID     string
	}{
		{name: "endless body hits the deadline", url: slow.URL, client: outbound.New(outbound.Options{}), timeout: 200 * time.Millisecond, wantStatus: 403, wantID: IDTimeout},
		{name: "body over the size limit", url: big.URL, client: outbound.New(outbound.Options{MaxBodyBytes: 1024}), wantStatus: 500, wantID: IDTooLarge},
		{name: "store down", url: down.URL, client: outbound.New(outbound.Options{}), wantStatus: 403, wantID: IDUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(tt.url + "/?token=s3cr3t")
			o.ReplacePath = true // the request path may carry a credential too
			if tt.timeout != 0 {
				o.Timeout = tt.timeout
			}
			c, err := New(o, tt.client, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Authenticate(context.Background(), request(pipeline.Header{"cookie": {"session=s3cr3t"}}), &pipeline.Session{})
			var pe *pipeline.Error
			if !errors.As(err, &pe) || pe.Status != tt.wantStatus || pe.ID != tt.wantID {
				t.Fatalf("err = %v, want %d %s", err, tt.wantStatus, tt.wantID)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "/orders/1") {
				t.Fatalf("error leaks a credential or the request path: %v", err)
			}
		})
	}
}
