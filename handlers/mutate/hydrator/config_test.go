package hydrator

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func decode(t *testing.T, cfg map[string]any) (Config, error) {
	t.Helper()
	var c Config
	if err := pipeline.MapDecoder(cfg).Decode(&c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func TestConfigDefaultsAndEveryKey(t *testing.T) {
	c, err := decode(t, map[string]any{
		"api": map[string]any{
			"url":   "https://hydrator.test/hydrate?tenant=acme",
			"auth":  map[string]any{"basic": map[string]any{"username": "gw", "password": "p4ss"}},
			"retry": map[string]any{"give_up_after": "2s", "max_delay": "50ms"},
		},
		"cache": map[string]any{"enabled": true, "ttl": "30s"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Retry.GiveUpAfter.Std() != 2*time.Second || c.API.Retry.MaxDelay.Std() != 50*time.Millisecond || c.Cache.TTL.Std() != 30*time.Second {
		t.Fatalf("explicit values not kept: %+v", c)
	}
	c, err = decode(t, map[string]any{"api": map[string]any{"url": "http://hydrator.test/"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Retry.GiveUpAfter.Std() != 150*time.Millisecond || c.API.Retry.MaxDelay.Std() != 100*time.Millisecond || c.Cache.TTL.Std() != time.Minute || c.Cache.Enabled {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	api := func(m map[string]any) map[string]any {
		if _, ok := m["url"]; !ok {
			m["url"] = "https://hydrator.test/"
		}
		return map[string]any{"api": m}
	}
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{name: "url missing", cfg: map[string]any{"api": map[string]any{}}, wantErr: "api.url: is required"},
		{name: "api missing", cfg: map[string]any{}, wantErr: "api.url: is required"},
		{name: "url scheme", cfg: api(map[string]any{"url": "htp://hydrator.test/"}), wantErr: `api.url: unsupported scheme "htp"`},
		{name: "url without host", cfg: api(map[string]any{"url": "https:///x"}), wantErr: "api.url: missing host"},
		{name: "url relative", cfg: api(map[string]any{"url": "/hydrate"}), wantErr: "api.url: unsupported scheme"},
		{name: "url with user info", cfg: api(map[string]any{"url": "https://u:p@hydrator.test/"}), wantErr: "api.url: must not carry user info"},
		{name: "url with fragment", cfg: api(map[string]any{"url": "https://hydrator.test/#x"}), wantErr: "api.url: must not have a fragment"},
		{name: "basic without username", cfg: api(map[string]any{"auth": map[string]any{"basic": map[string]any{"password": "x"}}}), wantErr: "api.auth.basic.username: required"},
		{name: "basic username with colon", cfg: api(map[string]any{"auth": map[string]any{"basic": map[string]any{"username": "a:b", "password": "x"}}}), wantErr: "must not contain ':'"},
		{name: "basic username with newline", cfg: api(map[string]any{"auth": map[string]any{"basic": map[string]any{"username": "a\nb", "password": "x"}}}), wantErr: "control character"},
		{name: "give_up_after negative", cfg: api(map[string]any{"retry": map[string]any{"give_up_after": "-1s"}}), wantErr: "api.retry.give_up_after: must not be negative"},
		{name: "max_delay negative", cfg: api(map[string]any{"retry": map[string]any{"max_delay": "-1ms"}}), wantErr: "api.retry.max_delay: must not be negative"},
		{name: "max_delay not a duration", cfg: api(map[string]any{"retry": map[string]any{"max_delay": "soon"}}), wantErr: `invalid duration "soon"`},
		{name: "ttl negative", cfg: map[string]any{"api": map[string]any{"url": "https://h.test/"}, "cache": map[string]any{"ttl": "-1m"}}, wantErr: "cache.ttl: must not be negative"},
		{name: "ttl not a duration", cfg: map[string]any{"api": map[string]any{"url": "https://h.test/"}, "cache": map[string]any{"ttl": "1 minute"}}, wantErr: "invalid duration"},
		{name: "enabled must be a bool", cfg: map[string]any{"api": map[string]any{"url": "https://h.test/"}, "cache": map[string]any{"enabled": "yes"}}, wantErr: "enabled"},
		{name: "unknown top-level key", cfg: map[string]any{"api": map[string]any{"url": "https://h.test/"}, "timeout": "1s"}, wantErr: `unknown field "timeout"`},
		{name: "unknown api key", cfg: api(map[string]any{"method": "GET"}), wantErr: `unknown field "method"`},
		{name: "unknown auth key", cfg: api(map[string]any{"auth": map[string]any{"bearer": "x"}}), wantErr: `unknown field "bearer"`},
		{name: "unknown retry key", cfg: api(map[string]any{"retry": map[string]any{"attempts": 3}}), wantErr: `unknown field "attempts"`},
		{name: "unknown cache key", cfg: map[string]any{"api": map[string]any{"url": "https://h.test/"}, "cache": map[string]any{"size": 3}}, wantErr: `unknown field "size"`},
		{name: "every error is reported", cfg: map[string]any{"api": map[string]any{"url": "ftp://x/", "retry": map[string]any{"max_delay": "-1s"}}, "cache": map[string]any{"ttl": "-1s"}},
			wantErr: "api.url: unsupported scheme \"ftp\"\napi.retry.max_delay: must not be negative\ncache.ttl: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(t, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "p4ss") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

func TestNewNeedsItsDependencies(t *testing.T) {
	c, err := decode(t, map[string]any{"api": map[string]any{"url": "https://h.test/"}, "cache": map[string]any{"enabled": true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(c, nil, NewCache(0, 0)); err == nil || !strings.Contains(err.Error(), "no outbound client") {
		t.Fatalf("nil client: err = %v", err)
	}
	if _, err := New(c, outbound.New(outbound.Options{}), nil); err == nil || !strings.Contains(err.Error(), "cache.enabled") {
		t.Fatalf("nil cache with cache enabled: err = %v", err)
	}
	c.Cache.Enabled = false
	if _, err := New(c, outbound.New(outbound.Options{}), nil); err != nil {
		t.Fatalf("nil cache with cache disabled: %v", err)
	}
}
