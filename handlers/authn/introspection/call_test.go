package introspection

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestIntrospectionRequest(t *testing.T) {
	tests := []struct {
		name       string
		config     map[string]any
		wantForm   string
		wantHeader map[string]string
	}{
		{name: "token only", wantForm: "token=t%2B1",
			wantHeader: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json", "X-Forwarded-Host": ""}},
		{name: "strategy none sends the required scopes", config: map[string]any{"required_scope": []any{"a", "b"}},
			wantForm: "scope=a+b&token=t%2B1"},
		{name: "local strategy does not send scopes", config: map[string]any{"required_scope": []any{"a"}, "scope_strategy": "exact"},
			wantForm: "token=t%2B1"},
		{name: "request headers, Content-Type forced", config: map[string]any{"introspection_request_headers": map[string]any{
			"authorization": "Basic cnM6c2VjcmV0", "content-type": "text/plain", "Accept": "application/token-introspection+jwt"}},
			wantForm: "token=t%2B1", wantHeader: map[string]string{"Authorization": "Basic cnM6c2VjcmV0",
				"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/token-introspection+jwt"}},
		{name: "preserve_host", config: map[string]any{"preserve_host": true}, wantForm: "token=t%2B1",
			wantHeader: map[string]string{"X-Forwarded-Host": "api.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, map[string]string{"t+1": `{"active":true,"scope":"a"}`})
			raw := map[string]any{"introspection_url": p.URL}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := newDeps().build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Authenticate(context.Background(), bearer("t+1"), &pipeline.Session{}); err != nil {
				t.Fatal(err)
			}
			form, h := p.last()
			if form.Encode() != tt.wantForm {
				t.Fatalf("form = %q, want %q", form.Encode(), tt.wantForm)
			}
			for k, want := range tt.wantHeader {
				if got := h.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestIntrospectionResponsibility(t *testing.T) {
	p := newIDP(t, map[string]string{"pfx.good": `{"active":true,"sub":"a"}`, "good": `{"active":true,"sub":"b"}`})
	tests := []struct {
		name    string
		config  map[string]any
		r       *pipeline.Request
		wantErr error
		wantID  string
	}{
		{name: "no token", r: &pipeline.Request{Header: pipeline.Header{}}, wantErr: pipeline.ErrSkip},
		{name: "prefix mismatch", config: map[string]any{"prefix": "pfx."}, r: bearer("good"), wantErr: pipeline.ErrSkip},
		{name: "prefix match", config: map[string]any{"prefix": "pfx."}, r: bearer("pfx.good")},
		{name: "token_from query", config: map[string]any{"token_from": map[string]any{"query_parameter": "t"}},
			r: &pipeline.Request{RawQuery: "t=good", Header: pipeline.Header{}}},
		{name: "token_from cookie", config: map[string]any{"token_from": map[string]any{"cookie": "at"}},
			r: &pipeline.Request{Header: pipeline.Header{"cookie": {"at=good"}}}},
		{name: "ambiguous credential", r: &pipeline.Request{Header: pipeline.Header{"authorization": {"Bearer good", "Bearer x"}}},
			wantErr: pipeline.ErrUnauthorized, wantID: token.ReasonAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := map[string]any{"introspection_url": p.URL}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := newDeps().build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			err = a.Authenticate(context.Background(), tt.r, &pipeline.Session{})
			if !errors.Is(err, tt.wantErr) || tt.wantID != "" && pipeline.ReasonOf(err, "") != tt.wantID {
				t.Fatalf("err = %v, want %v %s", err, tt.wantErr, tt.wantID)
			}
		})
	}
}

func TestIntrospectionFailuresFailClosed(t *testing.T) {
	down := newIDP(t, nil)
	down.Close()
	tests := []struct {
		name       string
		status     int
		header     http.Header
		answer     string
		slow       bool
		url        string
		client     *outbound.Client
		wantStatus int
		wantID     string
		wantCalls  int32
		wantHeader pipeline.Header
	}{
		{name: "429 passes rate-limit headers on", status: 429, header: http.Header{"Retry-After": {"3"}, "X-Ratelimit-Remaining": {"0"}},
			wantStatus: 429, wantID: IDRateLimited, wantCalls: 1, wantHeader: pipeline.Header{"retry-after": {"3"}, "x-ratelimit-remaining": {"0"}}},
		// Issue #8 item 4: the endpoint refusing this service's own
		// credentials is an operator fault with its own reason.
		{name: "401 is a 500 and is not retried", status: 401, wantStatus: 500, wantID: IDClientUnauthorized, wantCalls: 1},
		{name: "403 refuses our credentials too", status: 403, wantStatus: 500, wantID: IDClientUnauthorized, wantCalls: 1},
		{name: "400 invalid_client", status: 400, answer: `{"error":"invalid_client","error_description":"bad secret"}`,
			wantStatus: 500, wantID: IDClientUnauthorized, wantCalls: 1},
		{name: "400 with another error", status: 400, answer: `{"error":"invalid_request"}`, wantStatus: 500, wantID: IDFailed, wantCalls: 1},
		{name: "404", status: 404, wantStatus: 500, wantID: IDFailed, wantCalls: 1},
		{name: "500 is retried, then a 500", status: 500, wantStatus: 500, wantID: IDFailed, wantCalls: 5},
		{name: "redirect is refused (D-03)", status: 302, header: http.Header{"Location": {"http://127.0.0.66:9/latest/meta-data/"}},
			wantStatus: 500, wantID: IDRedirect, wantCalls: 1},
		{name: "oversized answer", status: 200, answer: `{"active":true,"x":"` + strings.Repeat("a", 4096) + `"}`,
			client: outbound.New(outbound.Options{MaxBodyBytes: 1024}), wantStatus: 500, wantID: IDInvalid, wantCalls: 1},
		{name: "endless body hits the deadline (D-13)", status: 200, slow: true, wantStatus: 503, wantID: IDTimeout},
		{name: "endpoint down", url: down.URL, wantStatus: 503, wantID: IDUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, map[string]string{"s3cr3t": tt.answer})
			p.set(tt.status, tt.header)
			if tt.slow {
				// The body never ends: only the call's deadline can.
				release := make(chan struct{})
				t.Cleanup(func() { close(release) }) // runs before p.Close
				p.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					p.calls.Add(1)
					io.ReadAll(r.Body) // lets the server notice the client hanging up
					w.Write([]byte(`{"active":`))
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
					case <-release:
					}
				})
			}
			url := p.URL
			if tt.url != "" {
				url = tt.url
			}
			d := newDeps()
			if tt.client != nil {
				d.client = tt.client
			}
			// A per-attempt timeout no answer reaches keeps a loaded
			// machine from turning an answer into a timeout; the endless
			// body needs a short one.
			budget, timeout := "1m", "1m"
			if tt.slow {
				budget, timeout = "400ms", "150ms"
			}
			a, err := d.build(t, map[string]any{"introspection_url": url,
				"retry": map[string]any{"max_delay": "1ms", "give_up_after": budget}, "timeout": timeout})
			if err != nil {
				t.Fatal(err)
			}
			err = a.Authenticate(context.Background(), bearer("s3cr3t"), &pipeline.Session{})
			var pe *pipeline.Error
			if !errors.As(err, &pe) || pe.Status != tt.wantStatus || pe.ID != tt.wantID {
				t.Fatalf("err = %v, want %d %s", err, tt.wantStatus, tt.wantID)
			}
			if diff := cmp.Diff(tt.wantHeader, pe.Header); diff != "" {
				t.Fatalf("header (-want +got):\n%s", diff)
			}
			if tt.wantCalls != 0 && p.calls.Load() != tt.wantCalls {
				t.Fatalf("calls = %d, want %d", p.calls.Load(), tt.wantCalls)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}
}

func TestIntrospectionRetriesThenSucceeds(t *testing.T) {
	p := newIDP(t, map[string]string{"t": `{"active":true,"sub":"alice"}`})
	// The first two calls fail: the IdP's own call count decides, so the
	// outcome never depends on when a retry happens.
	ok := p.Config.Handler
	p.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.calls.Load() < 2 {
			p.calls.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		ok.ServeHTTP(w, r)
	})
	a, err := newDeps().build(t, map[string]any{"introspection_url": p.URL, "retry": map[string]any{"max_delay": "20ms", "give_up_after": "1m"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Session{}
	if err := a.Authenticate(context.Background(), bearer("t"), s); err != nil || s.Subject != "alice" {
		t.Fatalf("err %v subject %q after %d calls", err, s.Subject, p.calls.Load())
	}
	if n := p.calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 3 (two failures, then the answer)", n)
	}
}
