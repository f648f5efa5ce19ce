package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/handlers/internal/remotecall"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestCallCacheIsKeyedOnEveryForwardedCredential(t *testing.T) {
	base := pipeline.Header{"cookie": {"session=abc"}, "authorization": {"Bearer t1"}}
	tests := []struct {
		name      string
		mod       func(o *Options)
		second    func(r *pipeline.Request)
		wantCalls int
	}{
		{name: "same request is served from the cache", second: func(*pipeline.Request) {}, wantCalls: 1},
		{name: "other Authorization with the same cookie is re-checked (D-11)",
			second: func(r *pipeline.Request) { r.Header["authorization"] = []string{"Bearer t2"} }, wantCalls: 2},
		{name: "other cookie is re-checked", second: func(r *pipeline.Request) { r.Header["cookie"] = []string{"session=abd"} }, wantCalls: 2},
		{name: "extra cookie is re-checked", second: func(r *pipeline.Request) { r.Header["cookie"] = []string{"session=abc; b=1"} }, wantCalls: 2},
		{name: "other path is the same call when the configured path is kept", second: func(r *pipeline.Request) { r.Path = "/orders/2" }, wantCalls: 1},
		{name: "other path is re-checked when it replaces the configured one", mod: func(o *Options) { o.ReplacePath = true },
			second: func(r *pipeline.Request) { r.Path = "/orders/2" }, wantCalls: 2},
		{name: "other method is re-checked", second: func(r *pipeline.Request) { r.Method = "POST" }, wantCalls: 2},
		{name: "query is ignored when the configured one is kept", second: func(r *pipeline.Request) { r.RawQuery = "page=3" }, wantCalls: 1},
		{name: "unforwarded header is ignored", second: func(r *pipeline.Request) { r.Header["x-other"] = []string{"1"} }, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t, 200, `{"subject":"alice"}`)
			o := options(st.URL)
			o.ForwardHTTPHeaders = []string{"Authorization"}
			o.Cache = CacheConfig{Enabled: true, TTL: pipeline.Duration(time.Minute)}
			if tt.mod != nil {
				tt.mod(&o)
			}
			c, err := New(o, outbound.New(outbound.Options{}), NewStoreCache(remotecall.CacheOptions{}))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				r := request(base.Clone())
				if i == 1 {
					tt.second(r)
				}
				s := &pipeline.Session{}
				if err := c.Authenticate(context.Background(), r, s); err != nil || s.Subject != "alice" {
					t.Fatalf("request %d: %v, subject %q", i, err, s.Subject)
				}
			}
			if n, _, _ := st.seen(); n != tt.wantCalls {
				t.Fatalf("session store called %d times, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestCallCacheExpiresAndSkipsFailures(t *testing.T) {
	st := newStore(t, 401, ``)
	o := options(st.URL)
	o.Cache = CacheConfig{Enabled: true, TTL: pipeline.Duration(10 * time.Second)}
	cache := NewStoreCache(remotecall.CacheOptions{})
	c, err := New(o, outbound.New(outbound.Options{}), cache)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	auth := func() error {
		return c.Authenticate(context.Background(), request(pipeline.Header{"cookie": {"s=1"}}), &pipeline.Session{})
	}

	if err := auth(); !errors.Is(err, pipeline.ErrUnauthorized) {
		t.Fatalf("err = %v, want 401", err)
	}
	if cache.Len() != 0 {
		t.Fatal("a rejected session was cached")
	}
	st.set(200, `{"subject":"alice"}`)
	for i := 0; i < 3; i++ {
		if err := auth(); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, _ := st.seen(); n != 2 {
		t.Fatalf("calls = %d, want 2 (one rejected, one cached success)", n)
	}
	st.set(401, ``) // logged out at the store
	now = now.Add(10 * time.Second)
	if err := auth(); !errors.Is(err, pipeline.ErrUnauthorized) {
		t.Fatalf("after the ttl: err = %v, want 401", err)
	}
}

func TestCallCacheSeparatesConfigs(t *testing.T) {
	st := newStore(t, 200, `{"subject":"alice","sub":"bob"}`)
	cache := NewStoreCache(remotecall.CacheOptions{})
	o1 := options(st.URL)
	o1.Cache.Enabled = true
	o2 := o1
	o2.SubjectFrom = "sub"
	c1, err1 := New(o1, outbound.New(outbound.Options{}), cache)
	c2, err2 := New(o2, outbound.New(outbound.Options{}), cache)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	s1, s2 := &pipeline.Session{}, &pipeline.Session{}
	r := request(pipeline.Header{"cookie": {"s=1"}})
	if err := errors.Join(c1.Authenticate(context.Background(), r, s1), c2.Authenticate(context.Background(), r, s2)); err != nil {
		t.Fatal(err)
	}
	if s1.Subject != "alice" || s2.Subject != "bob" {
		t.Fatalf("subjects %q %q", s1.Subject, s2.Subject)
	}
}

func TestOptionsValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name string
		mod  func(o *Options)
		want string
	}{
		{name: "missing url", mod: func(o *Options) { o.CheckSessionURL = "" }, want: "check_session_url: is required"},
		{name: "bad scheme", mod: func(o *Options) { o.CheckSessionURL = "htp://x" }, want: `check_session_url: unsupported scheme "htp"`},
		{name: "relative url", mod: func(o *Options) { o.CheckSessionURL = "/whoami" }, want: `check_session_url: unsupported scheme ""`},
		{name: "no host", mod: func(o *Options) { o.CheckSessionURL = "http:///x" }, want: "check_session_url: missing host"},
		{name: "fragment", mod: func(o *Options) { o.CheckSessionURL = "http://x/#f" }, want: "check_session_url: must not have a fragment"},
		{name: "bad method", mod: func(o *Options) { o.ForceMethod = "GE T" }, want: `force_method: invalid method "GE T"`},
		{name: "bad forward header", mod: func(o *Options) { o.ForwardHTTPHeaders = []string{"ok", "a:b"} }, want: `forward_http_headers[1]: invalid header name "a:b"`},
		{name: "bad additional header", mod: func(o *Options) { o.AdditionalHeaders = map[string]string{"a b": "x"} }, want: `additional_headers: invalid header name "a b"`},
		{name: "CRLF in additional header", mod: func(o *Options) { o.AdditionalHeaders = map[string]string{"X": "a\r\nB: c"} }, want: "additional_headers.X: value contains a control character"},
		{name: "empty subject_from", mod: func(o *Options) { o.SubjectFrom = "" }, want: "subject_from: must not be empty"},
		{name: "empty extra_from", mod: func(o *Options) { o.ExtraFrom = "" }, want: "extra_from: must not be empty"},
		{name: "negative timeout", mod: func(o *Options) { o.Timeout = -1 }, want: "timeout: must not be negative"},
		{name: "negative ttl", mod: func(o *Options) { o.Cache.TTL = -1 }, want: "cache.ttl: must not be negative"},
		{name: "negative max_entries", mod: func(o *Options) { o.Cache.MaxEntries = -1 }, want: "cache.max_entries: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options("https://store.test/whoami")
			tt.mod(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("cache enabled without a shared cache", func(t *testing.T) {
		o := options("https://store.test/whoami")
		o.Cache.Enabled = true
		if _, err := New(o, outbound.New(outbound.Options{}), nil); err == nil || !strings.Contains(err.Error(), "cache.enabled") {
			t.Fatalf("err = %v", err)
		}
	})
}
