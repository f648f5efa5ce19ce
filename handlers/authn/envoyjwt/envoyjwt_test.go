package envoyjwt

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// fixtureMetadata reads metadataContext.filterMetadata from a CheckRequest
// in protojson form, decoded as Struct.AsMap would.
func fixtureMetadata(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/checkrequest-jwt_authn.json")
	if err != nil {
		t.Fatal(err)
	}
	var cr struct {
		Attributes struct {
			MetadataContext struct {
				FilterMetadata map[string]map[string]any `json:"filterMetadata"`
			} `json:"metadataContext"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal(b, &cr); err != nil {
		t.Fatal(err)
	}
	return cr.Attributes.MetadataContext.FilterMetadata
}

func authenticate(t *testing.T, c Config, md map[string]map[string]any) (*pipeline.Session, error) {
	t.Helper()
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Session{}
	return s, a.Authenticate(context.Background(), &pipeline.Request{Metadata: md}, s)
}

func TestAuthenticateFromEnvoyCheckRequest(t *testing.T) {
	s, err := authenticate(t, Config{PayloadKey: "jwt_payload", TrustedIssuers: []string{"https://issuer.example.com"},
		RequiredScope: []string{"orders:write"}}, fixtureMetadata(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"iss": "https://issuer.example.com", "sub": "alice", "scp": []string{"orders:write"}}
	if s.Subject != "alice" {
		t.Errorf("subject = %q", s.Subject)
	}
	if d := cmp.Diff(want, s.Extra); d != "" {
		t.Errorf("extra (-want +got):\n%s", d)
	}
}

func TestAuthenticate(t *testing.T) {
	const ns = DefaultNamespace
	payload := func(kv ...any) map[string]any {
		m := map[string]any{"iss": "https://idp.test", "sub": "alice", "scope": "read write", "exp": float64(1.9e9)}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	md := func(entries map[string]any) map[string]map[string]any { return map[string]map[string]any{ns: entries} }
	tests := []struct {
		name     string
		config   Config
		md       map[string]map[string]any
		status   int
		id       string
		skip     bool
		wantSub  string
		wantKeys []string
	}{
		{name: "only struct in the namespace", md: md(map[string]any{"jwt_payload": payload()}), status: 200, wantSub: "alice"},
		{name: "payload_key selects among several", config: Config{PayloadKey: "p2"},
			md: md(map[string]any{"p1": payload("sub", "bob"), "p2": payload(), "jwt_header": map[string]any{"alg": "RS256"}}), status: 200, wantSub: "alice"},
		{name: "several structs without payload_key", md: md(map[string]any{"jwt_payload": payload(), "jwt_header": map[string]any{"alg": "RS256"}}),
			status: 500, id: "envoy_jwt_payload_ambiguous", wantKeys: []string{"jwt_header", "jwt_payload"}},
		{name: "non-struct values are ignored when searching", md: md(map[string]any{"jwt_payload": payload(), "note": "x"}), status: 200, wantSub: "alice"},
		{name: "no metadata", md: nil, status: 401, id: "envoy_jwt_missing", skip: true},
		{name: "namespace has no struct", md: md(map[string]any{"note": "x"}), status: 401, id: "envoy_jwt_missing", skip: true},
		{name: "other namespace is not read", config: Config{Namespace: "custom.jwt"}, md: md(map[string]any{"jwt_payload": payload()}), status: 401, id: "envoy_jwt_missing", skip: true},
		{name: "custom namespace", config: Config{Namespace: "custom.jwt"}, md: map[string]map[string]any{"custom.jwt": {"p": payload()}}, status: 200, wantSub: "alice"},
		{name: "payload_key absent", config: Config{PayloadKey: "jwt_payload"}, md: md(map[string]any{"other": payload()}), status: 401, id: "envoy_jwt_missing", skip: true},
		{name: "payload_key not a struct", config: Config{PayloadKey: "jwt_payload"}, md: md(map[string]any{"jwt_payload": "eyJ..."}), status: 500, id: "envoy_jwt_payload_invalid"},
		{name: "subject_claim", config: Config{SubjectClaim: "email"}, md: md(map[string]any{"p": payload("email", "alice@example.test")}), status: 200, wantSub: "alice@example.test"},
		{name: "subject missing", md: md(map[string]any{"p": payload("sub", nil)}), status: 401, id: "envoy_jwt_subject_missing"},
		{name: "subject not a string", md: md(map[string]any{"p": payload("sub", []any{"admin"})}), status: 401, id: "envoy_jwt_subject_missing"},
		{name: "subject with CRLF", md: md(map[string]any{"p": payload("sub", "alice\r\nX-Admin: true")}), status: 401, id: "envoy_jwt_subject_invalid"},
		{name: "trusted issuer", config: Config{TrustedIssuers: []string{"https://other.test", "https://idp.test"}}, md: md(map[string]any{"p": payload()}), status: 200, wantSub: "alice"},
		{name: "untrusted issuer", config: Config{TrustedIssuers: []string{"https://other.test"}}, md: md(map[string]any{"p": payload()}), status: 401, id: "envoy_jwt_untrusted_issuer"},
		{name: "issuer missing", config: Config{TrustedIssuers: []string{"https://idp.test"}}, md: md(map[string]any{"p": payload("iss", nil)}), status: 401, id: "envoy_jwt_untrusted_issuer"},
		{name: "required scopes granted", config: Config{RequiredScope: []string{"read", "write"}}, md: md(map[string]any{"p": payload()}), status: 200, wantSub: "alice"},
		{name: "required scope from scp array", config: Config{RequiredScope: []string{"admin"}}, md: md(map[string]any{"p": payload("scope", nil, "scp", []any{"admin"})}), status: 200, wantSub: "alice"},
		{name: "required scope missing", config: Config{RequiredScope: []string{"admin"}}, md: md(map[string]any{"p": payload()}), status: 403, id: "envoy_jwt_scope_missing"},
		{name: "hierarchic scope strategy", config: Config{RequiredScope: []string{"read.orders"}, ScopeStrategy: "hierarchic"}, md: md(map[string]any{"p": payload()}), status: 200, wantSub: "alice"},
		{name: "exact strategy refuses a child scope", config: Config{RequiredScope: []string{"read.orders"}}, md: md(map[string]any{"p": payload()}), status: 403, id: "envoy_jwt_scope_missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := authenticate(t, tt.config, tt.md)
			if pipeline.StatusOf(err) != tt.status || pipeline.ReasonOf(err, "") != tt.id {
				t.Fatalf("err = %v, want %d %q", err, tt.status, tt.id)
			}
			if errors.Is(err, pipeline.ErrSkip) != tt.skip {
				t.Errorf("errors.Is(err, ErrSkip) = %v, want %v", !tt.skip, tt.skip)
			}
			var pe *pipeline.Error
			if tt.wantKeys != nil && (!errors.As(err, &pe) || !cmp.Equal(pe.Details["keys"], tt.wantKeys)) {
				t.Errorf("details = %v, want keys %v", pe.Details, tt.wantKeys)
			}
			if s.Subject != tt.wantSub {
				t.Errorf("subject = %q, want %q", s.Subject, tt.wantSub)
			}
		})
	}
}

func TestExtraIsACopy(t *testing.T) {
	p := map[string]any{"sub": "alice", "scope": "a b"}
	md := map[string]map[string]any{DefaultNamespace: {"p": p}}
	s, err := authenticate(t, Config{}, md)
	if err != nil {
		t.Fatal(err)
	}
	s.Extra["sub"] = "mallory"
	if p["sub"] != "alice" || p["scope"] != "a b" {
		t.Errorf("request metadata was modified: %v", p)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{"defaults", map[string]any{}, ""},
		{"all keys", map[string]any{"namespace": "x", "payload_key": "p", "subject_claim": "uid", "trusted_issuers": []any{"https://idp.test"},
			"required_scope": []any{"read"}, "scope_strategy": "wildcard"}, ""},
		{"namespace with spaces", map[string]any{"namespace": " x"}, `namespace: invalid namespace " x"`},
		{"payload_key with spaces", map[string]any{"payload_key": "p "}, `payload_key: invalid key "p "`},
		{"empty issuer", map[string]any{"trusted_issuers": []any{""}}, "trusted_issuers[0]: empty issuer"},
		{"scope with a space", map[string]any{"required_scope": []any{"a b"}}, `required_scope[0]: invalid scope "a b"`},
		{"unknown strategy", map[string]any{"scope_strategy": "regex"}, "scope_strategy: unknown scope strategy"},
		{"none with required scope", map[string]any{"scope_strategy": "none", "required_scope": []any{"a"}}, "scope_strategy: none cannot check required_scope"},
		{"unknown key", map[string]any{"jwks_urls": []any{}}, `unknown field "jwks_urls"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.config).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr == "" {
				if err != nil || c.Namespace == "" || c.SubjectClaim == "" || c.ScopeStrategy == "" {
					t.Fatalf("err = %v, config %+v", err, c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
