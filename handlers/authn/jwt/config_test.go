package jwt

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestConfigDecodesEveryKeyStrictly(t *testing.T) {
	raw, err := os.ReadFile("testdata/all_keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := pipeline.MapDecoder(m).Decode(&c); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := Config{
		JWKSURLs:          []string{"https://my-website.com/.well-known/jwks.json", "https://my-other-website.com/.well-known/jwks.json", "file://path/to/local/jwks.json"},
		JWKSMaxWait:       pipeline.Duration(100 * time.Millisecond),
		JWKSTTL:           pipeline.Duration(6 * time.Hour),
		AllowedAlgorithms: []string{"RS256", "ES256", "EdDSA"},
		TrustedIssuers:    []string{"https://idp.test"},
		TargetAudience:    []string{"api://gw"},
		RequiredScope:     []string{"photos.read"},
		ScopeStrategy:     "wildcard",
		TokenFrom:         &token.From{Header: "X-Token"},
		AllowedClockSkew:  pipeline.Duration(30 * time.Second),
		RequiredClaims:    []string{"exp", "sub"},
		MaxTokenLifetime:  pipeline.Duration(24 * time.Hour),
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("config (-want +got):\n%s", diff)
	}
	m["jwks_url"] = "typo"
	if err := pipeline.MapDecoder(m).Decode(&Config{}); err == nil || !strings.Contains(err.Error(), "jwks_url") {
		t.Fatalf("unknown key: %v", err)
	}
	if err := pipeline.MapDecoder(map[string]any{"jwks_urls": []any{"https://x"}, "token_from": map[string]any{"headr": "x"}}).Decode(&Config{}); err == nil {
		t.Fatal("unknown token_from key must fail")
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{JWKSURLs: []string{"https://idp.test/jwks"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		JWKSURLs:          []string{"https://idp.test/jwks"},
		JWKSMaxWait:       pipeline.Duration(150 * time.Millisecond),
		JWKSTTL:           pipeline.Duration(30 * time.Second),
		AllowedAlgorithms: []string{"RS256"},
		ScopeStrategy:     "none",
		RequiredClaims:    []string{"exp"},
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Fatalf("defaults (-want +got):\n%s", diff)
	}
	again := c
	if err := again.Validate(); err != nil || !cmp.Equal(c, again) {
		t.Fatal("Validate must be idempotent")
	}
	c = Config{JWKSURLs: []string{"https://idp.test/jwks"}, RequiredClaims: []string{}}
	if err := c.Validate(); err != nil || len(c.RequiredClaims) != 0 || c.RequiredClaims == nil {
		t.Fatalf("explicit empty required_claims must stay empty: %v %#v", err, c.RequiredClaims)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func(c *Config) { c.JWKSURLs = []string{"https://idp.test/jwks"} }
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"jwks_urls missing", func(*Config) {}, "jwks_urls: required"},
		{"jwks_urls http, https and file", func(c *Config) {
			c.JWKSURLs = []string{"http://a/jwks", "https://b/jwks", "file:///k.json", "file://./k.json"}
		}, ""},
		{"jwks_urls typo scheme", func(c *Config) { c.JWKSURLs = []string{"https://a/jwks", "htp://b"} }, `jwks_urls[1]: unsupported scheme "htp"`},
		{"jwks_urls s3", func(c *Config) { c.JWKSURLs = []string{"s3://bucket/jwks.json"} }, `jwks_urls[0]: unsupported scheme "s3": object storage is not supported`},
		{"jwks_urls gs", func(c *Config) { c.JWKSURLs = []string{"gs://bucket/jwks.json"} }, "object storage is not supported"},
		{"jwks_urls azblob", func(c *Config) { c.JWKSURLs = []string{"azblob://c/jwks.json"} }, "object storage is not supported"},
		{"jwks_max_wait negative", func(c *Config) { ok(c); c.JWKSMaxWait = pipeline.Duration(-time.Second) }, "jwks_max_wait: must be between"},
		{"jwks_max_wait too long", func(c *Config) { ok(c); c.JWKSMaxWait = pipeline.Duration(time.Minute) }, "jwks_max_wait: must be between"},
		{"jwks_max_wait set", func(c *Config) { ok(c); c.JWKSMaxWait = pipeline.Duration(100 * time.Millisecond) }, ""},
		{"jwks_ttl too short", func(c *Config) { ok(c); c.JWKSTTL = pipeline.Duration(100 * time.Millisecond) }, "jwks_ttl: must be at least 1s"},
		{"jwks_ttl set", func(c *Config) { ok(c); c.JWKSTTL = pipeline.Duration(time.Hour) }, ""},
		{"allowed_algorithms none", func(c *Config) { ok(c); c.AllowedAlgorithms = []string{"RS256", "None"} }, `allowed_algorithms[1]: "none" is never allowed`},
		{"allowed_algorithms unknown", func(c *Config) { ok(c); c.AllowedAlgorithms = []string{"XS256"} }, `allowed_algorithms[0]: unsupported algorithm "XS256"`},
		{"allowed_algorithms encryption alg", func(c *Config) { ok(c); c.AllowedAlgorithms = []string{"RSA-OAEP"} }, "unsupported algorithm"},
		{"allowed_algorithms every signature alg", func(c *Config) {
			ok(c)
			c.AllowedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"}
		}, ""},
		{"trusted_issuers set", func(c *Config) { ok(c); c.TrustedIssuers = []string{"a", "b"} }, ""},
		{"target_audience set", func(c *Config) { ok(c); c.TargetAudience = []string{"a"} }, ""},
		{"required_scope with strategy none", func(c *Config) { ok(c); c.RequiredScope = []string{"a"} }, `required_scope: set but scope_strategy is "none"`},
		{"required_scope with explicit none", func(c *Config) { ok(c); c.RequiredScope = []string{"a"}; c.ScopeStrategy = "none" }, "required_scope: set but"},
		{"required_scope empty entry", func(c *Config) { ok(c); c.RequiredScope = []string{""}; c.ScopeStrategy = "exact" }, "required_scope[0]: empty scope"},
		{"required_scope with hierarchic", func(c *Config) { ok(c); c.RequiredScope = []string{"a"}; c.ScopeStrategy = "hierarchic" }, ""},
		{"scope_strategy unknown", func(c *Config) { ok(c); c.ScopeStrategy = "regexp" }, "scope_strategy: unknown scope strategy"},
		{"token_from two locations", func(c *Config) { ok(c); c.TokenFrom = &token.From{Header: "a", Cookie: "b"} }, "token_from: set only one"},
		{"token_from cookie", func(c *Config) { ok(c); c.TokenFrom = &token.From{Cookie: "b"} }, ""},
		{"allowed_clock_skew negative", func(c *Config) { ok(c); c.AllowedClockSkew = pipeline.Duration(-time.Second) }, "allowed_clock_skew: must be between"},
		{"allowed_clock_skew above 5m", func(c *Config) { ok(c); c.AllowedClockSkew = pipeline.Duration(6 * time.Minute) }, "allowed_clock_skew: must be between"},
		{"allowed_clock_skew 5m", func(c *Config) { ok(c); c.AllowedClockSkew = pipeline.Duration(5 * time.Minute) }, ""},
		{"required_claims empty name", func(c *Config) { ok(c); c.RequiredClaims = []string{"exp", ""} }, "required_claims[1]: empty claim name"},
		{"max_token_lifetime negative", func(c *Config) { ok(c); c.MaxTokenLifetime = pipeline.Duration(-time.Hour) }, "max_token_lifetime: must not be negative"},
		{"max_token_lifetime set", func(c *Config) { ok(c); c.MaxTokenLifetime = pipeline.Duration(time.Hour) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestConfigReportsEveryError(t *testing.T) {
	c := Config{JWKSURLs: []string{"htp://x"}, AllowedAlgorithms: []string{"none"}, ScopeStrategy: "bad"}
	err := c.Validate()
	for _, want := range []string{"jwks_urls[0]", "allowed_algorithms[0]", "scope_strategy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate = %v, want it to mention %s", err, want)
		}
	}
}
