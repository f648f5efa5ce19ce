package introspection

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// tokenEndpoint issues "at-1", "at-2", ... to client c1:s1.
type tokenEndpoint struct {
	*httptest.Server
	calls  atomic.Int32
	mu     sync.Mutex
	status int
	form   string
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	t.Helper()
	e := &tokenEndpoint{status: 200}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.form = string(b)
		status := e.status
		e.mu.Unlock()
		id, secret, _ := r.BasicAuth()
		if id != "c1" || secret != "s1" {
			status = http.StatusUnauthorized
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == 200 {
			io.WriteString(w, `{"access_token":"at-`+string(rune('0'+n))+`","token_type":"bearer","expires_in":3600}`)
		}
	}))
	t.Cleanup(e.Close)
	return e
}

func TestPreAuthorization(t *testing.T) {
	te := newTokenEndpoint(t)
	// The IdP accepts only the token that is current.
	var current atomic.Value
	current.Store("Bearer at-1")
	var calls atomic.Int32
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("Authorization") != current.Load().(string) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"active":true,"sub":"alice"}`)
	}))
	defer p.Close()
	d := newDeps()
	preauth := func(secret string) map[string]any {
		return map[string]any{"introspection_url": p.URL, "pre_authorization": map[string]any{"enabled": true,
			"client_id": "c1", "client_secret": secret, "token_url": te.URL, "audience": "idp", "scope": []any{"introspect"}}}
	}
	a, err := d.build(t, preauth("s1"))
	if err != nil {
		t.Fatal(err)
	}
	auth := func(a *Authenticator) error {
		return a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{})
	}
	for i := 0; i < 3; i++ {
		if err := auth(a); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if te.calls.Load() != 1 {
		t.Fatalf("token grants = %d, want 1 (the token is reused)", te.calls.Load())
	}
	if te.form != "audience=idp&grant_type=client_credentials&scope=introspect" {
		t.Fatalf("grant form = %q", te.form)
	}

	t.Run("a rejected token is replaced on the next request", func(t *testing.T) {
		current.Store("Bearer at-2")
		if err := auth(a); pipeline.ReasonOf(err, "") != IDClientUnauthorized {
			t.Fatalf("err = %v, want %s", err, IDClientUnauthorized)
		}
		if err := auth(a); err != nil {
			t.Fatalf("after refresh: %v", err)
		}
	})
	t.Run("refused grant is a 500", func(t *testing.T) {
		bad, err := d.build(t, preauth("wrong"))
		if err != nil {
			t.Fatal(err)
		}
		if err := auth(bad); pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != IDPreAuthFailed {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("rate-limited grant is a 429", func(t *testing.T) {
		te.mu.Lock()
		te.status = 429
		te.mu.Unlock()
		defer func() { te.mu.Lock(); te.status = 200; te.mu.Unlock() }()
		other, err := d.build(t, map[string]any{"introspection_url": p.URL, "pre_authorization": map[string]any{"enabled": true,
			"client_id": "c1", "client_secret": "s1", "token_url": te.URL + "/other"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := auth(other); pipeline.StatusOf(err) != 429 || pipeline.ReasonOf(err, "") != IDPreAuthRateLimited {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("token endpoint down is a 503", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		down, err := d.build(t, map[string]any{"introspection_url": p.URL, "retry": map[string]any{"give_up_after": "1m"},
			"pre_authorization": map[string]any{"enabled": true, "client_id": "c1", "client_secret": "s1", "token_url": gone.URL}})
		if err != nil {
			t.Fatal(err)
		}
		if err := auth(down); pipeline.StatusOf(err) != 503 || pipeline.ReasonOf(err, "") != IDPreAuthUnavailable {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("disabled pre_authorization sends no token", func(t *testing.T) {
		off := preauth("s1")
		off["pre_authorization"].(map[string]any)["enabled"] = false
		plain, err := d.build(t, off)
		if err != nil {
			t.Fatal(err)
		}
		if err := auth(plain); pipeline.ReasonOf(err, "") != IDClientUnauthorized {
			t.Fatalf("err = %v, want the IdP to refuse a call without a token", err)
		}
	})
}
