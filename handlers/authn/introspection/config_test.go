package introspection

import (
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestConfig(t *testing.T) {
	const u = "https://idp.test/introspect"
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{name: "every oathkeeper key is accepted", config: map[string]any{"introspection_url": u, "scope_strategy": "exact",
			"required_scope": []any{"a"}, "target_audience": []any{"api"}, "trusted_issuers": []any{"https://idp.test"},
			"prefix": "ory_at_", "preserve_host": true, "introspection_request_headers": map[string]any{"X-A": "b"},
			"token_from": map[string]any{"header": "X-Token"}, "retry": map[string]any{"max_delay": "100ms", "give_up_after": "1s"},
			"pre_authorization": map[string]any{"enabled": true, "client_id": "id", "client_secret": "s", "token_url": "https://idp.test/token",
				"audience": "aud", "scope": []any{"foo", "bar"}},
			"cache": map[string]any{"enabled": true, "ttl": "5s", "max_cost": 100000000}, "timeout": "500ms"}},
		{name: "oathkeeper's injected defaults", config: map[string]any{"introspection_url": u, "cache": map[string]any{"enabled": false,
			"max_cost": 100000000}, "preserve_host": false, "pre_authorization": map[string]any{"enabled": false},
			"retry": map[string]any{"max_delay": "100ms", "give_up_after": "1s"}, "scope_strategy": "none"}},
		{name: "token_from null", config: map[string]any{"introspection_url": u, "token_from": nil}},
		{name: "missing url", config: map[string]any{}, wantErr: "introspection_url: is required"},
		{name: "bad url scheme", config: map[string]any{"introspection_url": "htp://x"}, wantErr: `introspection_url: unsupported scheme "htp"`},
		{name: "unknown key", config: map[string]any{"introspection_url": u, "jwks_urls": []any{}}, wantErr: "jwks_urls"},
		{name: "unknown scope strategy", config: map[string]any{"introspection_url": u, "scope_strategy": "regex"}, wantErr: "scope_strategy: unknown"},
		{name: "empty required scope", config: map[string]any{"introspection_url": u, "required_scope": []any{""}}, wantErr: "required_scope[0]: must not be empty"},
		{name: "empty audience", config: map[string]any{"introspection_url": u, "target_audience": []any{"a", " "}}, wantErr: "target_audience[1]"},
		{name: "empty issuer", config: map[string]any{"introspection_url": u, "trusted_issuers": []any{""}}, wantErr: "trusted_issuers[0]"},
		{name: "bad header name", config: map[string]any{"introspection_url": u, "introspection_request_headers": map[string]any{"a b": "c"}},
			wantErr: `introspection_request_headers: invalid header name "a b"`},
		{name: "CRLF in header value", config: map[string]any{"introspection_url": u, "introspection_request_headers": map[string]any{"X": "a\nb"}},
			wantErr: "introspection_request_headers.X: value contains a control character"},
		{name: "two token locations", config: map[string]any{"introspection_url": u, "token_from": map[string]any{"header": "a", "query_parameter": "b"}},
			wantErr: "token_from: set only one"},
		{name: "pre_authorization without client_id", config: map[string]any{"introspection_url": u, "pre_authorization": map[string]any{
			"enabled": true, "client_secret": "s", "token_url": "https://t.test"}}, wantErr: "pre_authorization.client_id: is required"},
		{name: "pre_authorization without client_secret", config: map[string]any{"introspection_url": u, "pre_authorization": map[string]any{
			"enabled": true, "client_id": "i", "token_url": "https://t.test"}}, wantErr: "pre_authorization.client_secret: is required"},
		{name: "pre_authorization without token_url", config: map[string]any{"introspection_url": u, "pre_authorization": map[string]any{
			"enabled": true, "client_id": "i", "client_secret": "s"}}, wantErr: "pre_authorization.token_url: is required"},
		{name: "pre_authorization unknown key", config: map[string]any{"introspection_url": u, "pre_authorization": map[string]any{
			"enabled": false, "grant": "x"}}, wantErr: "grant"},
		{name: "bad retry duration", config: map[string]any{"introspection_url": u, "retry": map[string]any{"max_delay": "fast"}}, wantErr: "invalid duration"},
		{name: "timeout above give_up_after", config: map[string]any{"introspection_url": u, "timeout": "2s", "retry": map[string]any{"give_up_after": "1s"}},
			wantErr: "timeout: 2s exceeds retry.give_up_after"},
		{name: "negative cache ttl", config: map[string]any{"introspection_url": u, "cache": map[string]any{"ttl": "-1s"}}, wantErr: "cache.ttl: must not be negative"},
		{name: "negative max_cost", config: map[string]any{"introspection_url": u, "cache": map[string]any{"max_cost": -1}}, wantErr: "cache.max_cost: must not be negative"},
		{name: "several errors are all reported", config: map[string]any{"introspection_url": "", "scope_strategy": "x"}, wantErr: "scope_strategy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newDeps().build(t, tt.config)
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
	t.Run("deps missing for the enabled features", func(t *testing.T) {
		for _, raw := range []map[string]any{
			{"introspection_url": u, "cache": map[string]any{"enabled": true}},
			{"introspection_url": u, "pre_authorization": map[string]any{"enabled": true, "client_id": "i", "client_secret": "s", "token_url": u}},
		} {
			var c Config
			if err := pipeline.MapDecoder(raw).Decode(&c); err != nil {
				t.Fatal(err)
			}
			if _, err := New(c, newDeps().client, nil, nil); err == nil {
				t.Fatalf("New(%v) without caches succeeded", raw)
			}
		}
	})
}
