package clientcredentials

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/oauth2cc"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// tokenEndpoint issues tokens to client "my client" with secret "p@ss:1"
// and answers with status whatever the credentials when status is set.
type tokenEndpoint struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	status int
	answer string
	header http.Header
	form   url.Values
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{answer: `{"access_token":"at","token_type":"bearer","expires_in":3600}`}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		e.mu.Lock()
		e.form = form
		status, answer, header := e.status, e.answer, e.header
		e.mu.Unlock()
		id, secret, _ := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if status == 0 {
			status = 200
			if id != "my client" || secret != "p@ss:1" {
				status, answer = 401, `{"error":"invalid_client"}`
			}
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(e.Close)
	return e
}

// build decodes raw strictly and builds the authenticator. A config that
// bounds the grant neither with timeout nor with retry.give_up_after gets
// a timeout of a minute rather than the default 150ms: only a test about
// the deadline sets one, and no other outcome may depend on how busy the
// machine is.
func build(t *testing.T, raw map[string]any) (pipeline.Authenticator, error) {
	t.Helper()
	retry, _ := raw["retry"].(map[string]any)
	if _, ok := raw["timeout"]; !ok && retry["give_up_after"] == nil {
		raw = maps.Clone(raw)
		raw["timeout"] = "1m"
	}
	var c Config
	if err := pipeline.MapDecoder(raw).Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return New(c, outbound.New(outbound.Options{}), oauth2cc.NewCache(remotecall.CacheOptions{}))
}

func basic(user, pass string) *pipeline.Request {
	v := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	return &pipeline.Request{Method: "GET", Host: "api.test", Header: pipeline.Header{"authorization": {v}}}
}

func TestClientCredentials(t *testing.T) {
	e := newTokenEndpoint(t)
	tests := []struct {
		name        string
		r           *pipeline.Request
		status      int
		answer      string
		header      http.Header
		wantErr     error
		wantStatus  int
		wantID      string
		wantHeader  pipeline.Header
		wantSubject string
	}{
		{name: "no Authorization is not responsible", r: &pipeline.Request{Header: pipeline.Header{}}, wantErr: pipeline.ErrSkip},
		{name: "bearer token is not responsible", r: &pipeline.Request{Header: pipeline.Header{"authorization": {"Bearer x"}}}, wantErr: pipeline.ErrSkip},
		{name: "undecodable basic is not responsible", r: &pipeline.Request{Header: pipeline.Header{"authorization": {"Basic !!!"}}}, wantErr: pipeline.ErrSkip},
		{name: "basic without colon is not responsible", r: &pipeline.Request{Header: pipeline.Header{"authorization": {"Basic " +
			base64.StdEncoding.EncodeToString([]byte("nocolon"))}}}, wantErr: pipeline.ErrSkip},
		{name: "two Authorization headers are ambiguous", r: &pipeline.Request{Header: pipeline.Header{"authorization": {"Basic a", "Basic b"}}},
			wantStatus: 401, wantID: "credential_ambiguous"},
		{name: "form-encoded credentials are decoded", r: basic("my+client", "p%40ss%3A1"), wantSubject: "my client"},
		{name: "raw credentials work too", r: basic("my client", "p@ss:1"), wantSubject: "my client"},
		{name: "bad escape is 401", r: basic("my%zzclient", "x"), wantStatus: 401, wantID: IDMalformed},
		{name: "wrong secret is 401", r: basic("my client", "wrong"), wantStatus: 401, wantID: IDInvalid},
		{name: "400 is 401", r: basic("my client", "p@ss:1"), status: 400, wantStatus: 401, wantID: IDInvalid},
		{name: "403 is 401", r: basic("my client", "p@ss:1"), status: 403, wantStatus: 401, wantID: IDInvalid},
		{name: "429 is 429 with headers", r: basic("my client", "p@ss:1"), status: 429, header: http.Header{"Retry-After": {"9"}},
			wantStatus: 429, wantID: IDRateLimited, wantHeader: pipeline.Header{"retry-after": {"9"}}},
		{name: "503 is 503", r: basic("my client", "p@ss:1"), status: 503, wantStatus: 503, wantID: IDEndpointDown},
		{name: "500 is 500", r: basic("my client", "p@ss:1"), status: 500, wantStatus: 500, wantID: IDEndpointError},
		{name: "504 is 504", r: basic("my client", "p@ss:1"), status: 504, wantStatus: 504, wantID: IDEndpointGateway},
		{name: "404 is 404", r: basic("my client", "p@ss:1"), status: 404, wantStatus: 404, wantID: IDEndpointNotFound},
		{name: "302 is refused (D-03)", r: basic("my client", "p@ss:1"), status: 302, header: http.Header{"Location": {"http://127.0.0.66:9/"}},
			wantStatus: 401, wantID: IDEndpointRedirect},
		{name: "empty access_token is 401", r: basic("my client", "p@ss:1"), status: 200, answer: `{"access_token":""}`,
			wantStatus: 401, wantID: IDNoToken},
		{name: "malformed answer is 503", r: basic("my client", "p@ss:1"), status: 200, answer: `{"access_token":"a","access_token":"b"}`,
			wantStatus: 503, wantID: IDEndpointBadAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.mu.Lock()
			e.status, e.answer, e.header = tt.status, tt.answer, tt.header
			if tt.answer == "" {
				e.answer = `{"access_token":"at","expires_in":3600}`
			}
			e.mu.Unlock()
			a, err := build(t, map[string]any{"token_url": e.URL, "retry": map[string]any{"max_delay": "1ms", "give_up_after": "1m"}})
			if err != nil {
				t.Fatal(err)
			}
			s := &pipeline.Session{}
			err = a.Authenticate(context.Background(), tt.r, s)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.wantStatus != 0:
				var pe *pipeline.Error
				if !errors.As(err, &pe) || pe.Status != tt.wantStatus || pe.ID != tt.wantID {
					t.Fatalf("err = %v, want %d %s", err, tt.wantStatus, tt.wantID)
				}
				if diff := cmp.Diff(tt.wantHeader, pe.Header); diff != "" {
					t.Fatalf("header (-want +got):\n%s", diff)
				}
				if strings.Contains(err.Error(), "p@ss") || strings.Contains(err.Error(), "p%40ss") {
					t.Fatalf("error leaks the secret: %v", err)
				}
			case err != nil:
				t.Fatal(err)
			case s.Subject != tt.wantSubject || s.Extra != nil:
				t.Fatalf("session = %q %v, want %q", s.Subject, s.Extra, tt.wantSubject)
			}
		})
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	e := newTokenEndpoint(t)
	a, err := build(t, map[string]any{"token_url": e.URL, "required_scope": []any{"orders.read", "orders.write"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Authenticate(context.Background(), basic("my client", "p@ss:1"), &pipeline.Session{}); err != nil {
		t.Fatal(err)
	}
	want := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read orders.write"}}
	if e.form.Encode() != want.Encode() {
		t.Fatalf("form = %v, want %v (no credentials in the body)", e.form, want)
	}
}

func TestClientCredentialsNetworkFailures(t *testing.T) {
	down := newTokenEndpoint(t)
	down.Close()
	// hanging never answers: only give_up_after can end its grant. The
	// other cases allow a minute, so that reading a 2 MiB answer on a busy
	// machine is never cut short.
	hanging := newTokenEndpoint(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before hanging.Close
	hanging.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // lets the server notice the client hanging up
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	huge := newTokenEndpoint(t)
	huge.answer = `{"access_token":"` + strings.Repeat("a", 2<<20) + `"}`
	for _, tt := range []struct {
		name, url, giveUpAfter, id string
	}{
		{"endpoint down is 503", down.URL, "1m", IDEndpointUnreached},
		{"endpoint that never answers is 503", hanging.URL, "300ms", IDEndpointTimeout},
		{"answer over the size limit is 503", huge.URL, "1m", IDEndpointBadAnswer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := build(t, map[string]any{"token_url": tt.url, "retry": map[string]any{"give_up_after": tt.giveUpAfter}})
			if err != nil {
				t.Fatal(err)
			}
			err = a.Authenticate(context.Background(), basic("my client", "p@ss:1"), &pipeline.Session{})
			if pipeline.StatusOf(err) != 503 || pipeline.ReasonOf(err, "") != tt.id {
				t.Fatalf("err = %v, want 503 %s", err, tt.id)
			}
		})
	}
}

func TestClientCredentialsCache(t *testing.T) {
	tests := []struct {
		name      string
		cache     map[string]any
		answer    string
		requests  []string // secrets, in order
		wantCalls int32
	}{
		{name: "disabled: every request is checked", cache: map[string]any{"enabled": false},
			requests: []string{"p@ss:1", "p@ss:1"}, wantCalls: 2},
		{name: "enabled: a known client is not re-checked", cache: map[string]any{"enabled": true},
			requests: []string{"p@ss:1", "p@ss:1", "p@ss:1"}, wantCalls: 1},
		{name: "a wrong secret never hits the cached token", cache: map[string]any{"enabled": true},
			requests: []string{"p@ss:1", "wrong", "p@ss:1", "wrong"}, wantCalls: 3},
		{name: "a token without expiry is cached only with a ttl", cache: map[string]any{"enabled": true},
			answer: `{"access_token":"at"}`, requests: []string{"p@ss:1", "p@ss:1"}, wantCalls: 2},
		{name: "ttl caches a token without expiry", cache: map[string]any{"enabled": true, "ttl": "1m", "max_tokens": 10},
			answer: `{"access_token":"at"}`, requests: []string{"p@ss:1", "p@ss:1"}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEndpoint(t)
			if tt.answer != "" {
				e.answer = tt.answer
			}
			a, err := build(t, map[string]any{"token_url": e.URL, "cache": tt.cache})
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range tt.requests {
				err := a.Authenticate(context.Background(), basic("my client", secret), &pipeline.Session{})
				if (err == nil) != (secret == "p@ss:1") {
					t.Fatalf("secret %q: err = %v", secret, err)
				}
			}
			if n := e.calls.Load(); n != tt.wantCalls {
				t.Fatalf("grants = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestClientCredentialsConfig(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{name: "every oathkeeper key is accepted", config: map[string]any{"token_url": "https://idp.test/token",
			"required_scope": []any{"a"}, "retry": map[string]any{"max_delay": "100ms", "give_up_after": "1s"},
			"cache": map[string]any{"enabled": true, "ttl": "5s", "max_tokens": 1000}, "timeout": "500ms"}},
		{name: "missing token_url", config: map[string]any{}, wantErr: "token_url: is required"},
		{name: "bad scheme", config: map[string]any{"token_url": "file:///etc/passwd"}, wantErr: `token_url: unsupported scheme "file"`},
		{name: "unknown key", config: map[string]any{"token_url": "https://t.test", "client_id": "x"}, wantErr: "client_id"},
		{name: "scope with a space", config: map[string]any{"token_url": "https://t.test", "required_scope": []any{"a b"}}, wantErr: `required_scope[0]: invalid scope "a b"`},
		{name: "negative ttl", config: map[string]any{"token_url": "https://t.test", "cache": map[string]any{"ttl": "-1s"}}, wantErr: "cache.ttl: must not be negative"},
		{name: "negative max_tokens", config: map[string]any{"token_url": "https://t.test", "cache": map[string]any{"max_tokens": -1}}, wantErr: "cache.max_tokens: must not be negative"},
		{name: "timeout above give_up_after", config: map[string]any{"token_url": "https://t.test", "timeout": "3s",
			"retry": map[string]any{"give_up_after": "1s"}}, wantErr: "timeout: 3s exceeds retry.give_up_after"},
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
	t.Run("cache enabled without a token cache", func(t *testing.T) {
		c := Config{TokenURL: "https://t.test", Cache: CacheConfig{Enabled: true}}
		if _, err := New(c, outbound.New(outbound.Options{}), nil); err == nil {
			t.Fatal("New without a token cache succeeded")
		}
	})
}
