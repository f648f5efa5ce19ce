package keto

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// fakeKeto is a loopback Keto that records the last request.
type fakeKeto struct {
	*httptest.Server
	mu         sync.Mutex
	path, body string
	ctype      string
	calls      int
}

func newFakeKeto(t *testing.T, code int, answer string) *fakeKeto {
	t.Helper()
	f := &fakeKeto{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.path, f.body, f.ctype = r.URL.Path, string(b), r.Header.Get("Content-Type")
		f.calls++
		f.mu.Unlock()
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

// newAuthorizer builds c. A config without a timeout gets a minute rather
// than the default 150ms: only a test about the timeout sets one, and no
// other outcome may depend on how busy the machine is.
func newAuthorizer(t *testing.T, c Config) *Authorizer {
	t.Helper()
	if c.Timeout == 0 {
		c.Timeout = pipeline.Duration(time.Minute)
	}
	a, err := New(c, outbound.New(outbound.Options{Timeout: time.Minute}))
	if err != nil {
		t.Fatal(err)
	}
	k := a.(*Authorizer)
	k.now = func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("x", 3600)) }
	return k
}

func session() *pipeline.Session {
	return &pipeline.Session{Subject: "alice", Extra: map[string]any{"group": "staff"},
		MatchContext: pipeline.MatchContext{RegexpCaptureGroups: []string{"42", "items"}}}
}

func request() *pipeline.Request {
	return &pipeline.Request{Header: pipeline.Header{"x-forwarded-for": {"198.51.100.66"}, "authorization": {"Bearer secret"}},
		Source: pipeline.Peer{Address: "203.0.113.7"}}
}

func TestAuthorizeSendsACPRequest(t *testing.T) {
	tests := []struct {
		name     string
		config   Config
		wantPath string
		wantBody string
	}{
		{name: "default flavor and session subject",
			config:   Config{RequiredAction: "read", RequiredResource: "orders:{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"},
			wantPath: "/engines/acp/ory/regex/allowed",
			wantBody: `{"action":"read","resource":"orders:42","subject":"alice","context":{"remoteIpAddress":"203.0.113.7","requestedAt":"2026-11-27T09:00:00Z"}}`},
		{name: "exact flavor, subject template, base path kept",
			config: Config{Flavor: "exact", RequiredAction: "{{ printIndex .MatchContext.RegexpCaptureGroups 1 }}:get",
				RequiredResource: "r", Subject: "group:{{ .Extra.group }}"},
			wantPath: "/keto/engines/acp/ory/exact/allowed",
			wantBody: `{"action":"items:get","resource":"r","subject":"group:staff","context":{"remoteIpAddress":"203.0.113.7","requestedAt":"2026-11-27T09:00:00Z"}}`},
		{name: "glob flavor",
			config:   Config{Flavor: "glob", RequiredAction: "a", RequiredResource: "r"},
			wantPath: "/engines/acp/ory/glob/allowed",
			wantBody: `{"action":"a","resource":"r","subject":"alice","context":{"remoteIpAddress":"203.0.113.7","requestedAt":"2026-11-27T09:00:00Z"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKeto(t, 200, `{"allowed":true}`)
			tt.config.BaseURL = f.URL
			if tt.config.Flavor == "exact" {
				tt.config.BaseURL = f.URL + "/keto/"
			}
			if err := newAuthorizer(t, tt.config).Authorize(context.Background(), request(), session()); err != nil {
				t.Fatal(err)
			}
			if f.path != tt.wantPath || f.body != tt.wantBody || f.ctype != "application/json" {
				t.Errorf("got %s %s (%s)\nwant %s %s", f.path, f.body, f.ctype, tt.wantPath, tt.wantBody)
			}
		})
	}
}

func TestAuthorizeMapsKetoAnswers(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		body   string
		status int
		id     string
	}{
		{"allowed true", 200, `{"allowed":true}`, 200, ""},
		{"allowed false", 200, `{"allowed":false}`, 403, "keto_denied"},
		{"allowed missing", 200, `{}`, 403, "keto_decision_invalid"},
		{"allowed as string", 200, `{"allowed":"true"}`, 403, "keto_decision_invalid"},
		{"duplicate allowed", 200, `{"allowed":false,"allowed":true}`, 500, "keto_response_invalid"},
		{"empty body", 200, ``, 500, "keto_response_invalid"},
		{"403", 403, `{"allowed":true}`, 403, "keto_denied"},
		{"429", 429, ``, 429, "keto_rate_limited"},
		{"404", 404, ``, 500, "keto_unexpected_status"},
		{"500", 500, `{"allowed":true}`, 500, "keto_unexpected_status"},
		{"oversized", 200, `{"allowed":true,"x":"` + strings.Repeat("a", 2<<20) + `"}`, 500, "keto_response_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKeto(t, tt.code, tt.body)
			err := newAuthorizer(t, Config{BaseURL: f.URL, RequiredAction: "a", RequiredResource: "r"}).
				Authorize(context.Background(), request(), session())
			if pipeline.StatusOf(err) != tt.status || pipeline.ReasonOf(err, "") != tt.id {
				t.Errorf("err = %v, want %d %q", err, tt.status, tt.id)
			}
		})
	}
}

// TestUnavailableKetoFailsClosed: a Keto that never answers is ended by
// the rule's timeout, the only deadline there is, and denied as
// unavailable.
func TestUnavailableKetoFailsClosed(t *testing.T) {
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hanging.Close()
	defer close(release)
	err := newAuthorizer(t, Config{BaseURL: hanging.URL, RequiredAction: "a", RequiredResource: "r", Timeout: pipeline.Duration(80 * time.Millisecond)}).
		Authorize(context.Background(), request(), session())
	if pipeline.StatusOf(err) != 503 || pipeline.ReasonOf(err, "") != "keto_unavailable" {
		t.Errorf("err = %v, want 503 keto_unavailable", err)
	}
}

func TestTemplateFailureFailsClosedWithoutCalling(t *testing.T) {
	f := newFakeKeto(t, 200, `{"allowed":true}`)
	a := newAuthorizer(t, Config{BaseURL: f.URL, RequiredAction: "a", RequiredResource: `{{ index .MatchContext.RegexpCaptureGroups 5 }}`})
	err := a.Authorize(context.Background(), request(), session())
	if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != "keto_template_failed" || f.calls != 0 {
		t.Errorf("err = %v, calls %d", err, f.calls)
	}
}

func TestSubjectIsJSONEscaped(t *testing.T) {
	f := newFakeKeto(t, 200, `{"allowed":true}`)
	s := session()
	s.Subject = `alice","subject":"admin`
	if err := newAuthorizer(t, Config{BaseURL: f.URL, RequiredAction: "a", RequiredResource: "r"}).Authorize(context.Background(), request(), s); err != nil {
		t.Fatal(err)
	}
	var got allowedRequest
	if err := json.Unmarshal([]byte(f.body), &got); err != nil || got.Subject != s.Subject {
		t.Errorf("subject = %q (%v)", got.Subject, err)
	}
}
