package idtoken

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestValidateAppliesDefaultsAndNamesTheKey(t *testing.T) {
	f := false
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" for success
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///etc/keys.json"}, check: func(t *testing.T, c Config) {
			if c.TTL.Std() != 15*time.Minute || c.Header != "Authorization" || !c.Cache.enabled() {
				t.Errorf("defaults not applied: %+v", c)
			}
		}},
		{name: "issuer_url missing", cfg: Config{JWKSURL: "file:///k.json"}, wantErr: "issuer_url: is required"},
		{name: "issuer_url with newline", cfg: Config{IssuerURL: "https://gw/\nx", JWKSURL: "file:///k.json"}, wantErr: "issuer_url: contains a control character"},
		{name: "jwks_url missing", cfg: Config{IssuerURL: "https://gw/"}, wantErr: "jwks_url: is required"},
		{name: "jwks_url bad scheme", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "htp://keys"}, wantErr: `jwks_url: unsupported scheme "htp"`},
		{name: "jwks_url s3 is not supported", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "s3://bucket/keys.json"}, wantErr: `jwks_url: unsupported scheme "s3"`},
		{name: "jwks_url without scheme", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "/etc/keys.json"}, wantErr: "jwks_url: has no scheme"},
		{name: "jwks_url plain http to a remote host", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "http://keys.example.com/jwks"}, wantErr: "jwks_url: plain http is only allowed to a loopback host"},
		{name: "jwks_url plain http to loopback", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "http://127.0.0.1:8080/jwks"}, check: func(t *testing.T, c Config) {
			if mustLoc(t, c).url != "http://127.0.0.1:8080/jwks" {
				t.Errorf("url = %q", mustLoc(t, c).url)
			}
		}},
		{name: "jwks_url http to localhost", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "http://localhost/jwks"}},
		{name: "jwks_url https", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "https://keys.example.com/jwks"}},
		{name: "jwks_url https without host", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "https:///jwks"}, wantErr: "jwks_url: has no host"},
		{name: "jwks_url with user info", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "https://u:p@keys.example.com/jwks"}, wantErr: "jwks_url: must not carry credentials"},
		{name: "jwks_url relative file", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file://./jwks-idt.json"}, check: func(t *testing.T, c Config) {
			if mustLoc(t, c).path != "./jwks-idt.json" {
				t.Errorf("path = %q", mustLoc(t, c).path)
			}
		}},
		{name: "jwks_url parent-relative file", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file://../keys/jwks.json"}, check: func(t *testing.T, c Config) {
			if mustLoc(t, c).path != "../keys/jwks.json" {
				t.Errorf("path = %q", mustLoc(t, c).path)
			}
		}},
		{name: "jwks_url opaque file", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:jwks.json"}, check: func(t *testing.T, c Config) {
			if mustLoc(t, c).path != "jwks.json" {
				t.Errorf("path = %q", mustLoc(t, c).path)
			}
		}},
		{name: "jwks_url file on a remote host", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file://server/share/k.json"}, wantErr: `jwks_url: file URL with remote host "server"`},
		{name: "jwks_url directory", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///etc/keys/"}, wantErr: "jwks_url: file URL names no file"},
		{name: "ttl set", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", TTL: pipeline.Duration(time.Hour)}, check: func(t *testing.T, c Config) {
			if c.TTL.Std() != time.Hour {
				t.Errorf("ttl = %s", c.TTL.Std())
			}
		}},
		{name: "ttl too short", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", TTL: pipeline.Duration(time.Millisecond)}, wantErr: "ttl: must be at least 1s"},
		{name: "ttl negative", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", TTL: pipeline.Duration(-time.Minute)}, wantErr: "ttl: must be at least 1s"},
		{name: "ttl too long", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", TTL: pipeline.Duration(48 * time.Hour)}, wantErr: "ttl: must be at most 24h0m0s"},
		{name: "header custom", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", Header: "X-Id-Token"}},
		{name: "header invalid", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", Header: "X Id"}, wantErr: `header: invalid character ' '`},
		{name: "header pseudo", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", Header: ":authority"}, wantErr: "header: invalid character ':'"},
		{name: "header host", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", Header: "Host"}, wantErr: "header: the host header cannot be set"},
		{name: "cache disabled", cfg: Config{IssuerURL: "https://gw/", JWKSURL: "file:///k.json", Cache: CacheConfig{Enabled: &f}}, check: func(t *testing.T, c Config) {
			if c.Cache.enabled() {
				t.Error("cache still enabled")
			}
		}},
		{name: "every error is reported", cfg: Config{TTL: pipeline.Duration(time.Nanosecond), Header: "a b"}, wantErr: "issuer_url: is required\njwks_url: is required\nttl: must be at least 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			err := c.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestDecodeAcceptsOathkeeperKeys decodes configs the way the registry does
// (strictly, unknown keys rejected), so every key of Oathkeeper's
// configMutatorsIdToken schema, plus Portcullis's own, must be accepted.
func TestDecodeAcceptsOathkeeperKeys(t *testing.T) {
	tests := []struct {
		name    string
		m       map[string]any
		wantErr string
	}{
		{name: "oathkeeper keys", m: map[string]any{"issuer_url": "https://gw/", "jwks_url": "file:///k.json", "ttl": "1h", "claims": `{"aud":"x"}`}},
		{name: "portcullis keys", m: map[string]any{"issuer_url": "https://gw/", "jwks_url": "file:///k.json", "header": "X-Jwt", "cache": map[string]any{"enabled": false}}},
		{name: "unknown key", m: map[string]any{"issuer_url": "https://gw/", "jwks_url": "file:///k.json", "audience": "x"}, wantErr: "audience"},
		{name: "bad ttl", m: map[string]any{"issuer_url": "https://gw/", "jwks_url": "file:///k.json", "ttl": "soon"}, wantErr: "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.m).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustLoc(t *testing.T, c Config) jwksLocation {
	t.Helper()
	loc, err := parseJWKSURL(c.JWKSURL)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
