package mtls

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func authenticate(t *testing.T, c Config, principal, cert string) (*pipeline.Session, error) {
	t.Helper()
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Session{}
	r := &pipeline.Request{Source: pipeline.Peer{Principal: principal, Certificate: cert, Address: "10.0.0.7"}}
	return s, a.Authenticate(context.Background(), r, s)
}

func TestNoPrincipalIsNotResponsible(t *testing.T) {
	_, err := authenticate(t, Config{TrustDomains: []string{"prod.test"}}, "", "")
	if !errors.Is(err, pipeline.ErrSkip) {
		t.Errorf("err = %v, want it to wrap ErrSkip", err)
	}
	if pipeline.StatusOf(err) != 401 || pipeline.ReasonOf(err, "") != "mtls_required" {
		t.Errorf("err = %v, want 401 mtls_required", err)
	}
}

func TestAuthenticate(t *testing.T) {
	const web = "spiffe://prod.test/ns/shop/sa/web"
	tests := []struct {
		name        string
		config      Config
		principal   string
		cert        string
		wantStatus  int
		wantID      string
		wantSubject string
		wantExtra   map[string]any
	}{
		{name: "SPIFFE ID with defaults", principal: web, cert: "-----BEGIN%20CERTIFICATE-----", wantStatus: 200, wantSubject: web,
			wantExtra: map[string]any{"principal": web, "certificate_present": true,
				"spiffe": map[string]any{"trust_domain": "prod.test", "path": "/ns/shop/sa/web"}}},
		{name: "subject_from path", config: Config{SubjectFrom: "path"}, principal: web, wantStatus: 200, wantSubject: "/ns/shop/sa/web"},
		{name: "trusted domain", config: Config{TrustDomains: []string{"stage.test", "prod.test"}}, principal: web, wantStatus: 200, wantSubject: web},
		{name: "untrusted domain", config: Config{TrustDomains: []string{"stage.test"}}, principal: web, wantStatus: 401, wantID: "mtls_untrusted_domain"},
		{name: "trust domain is not a suffix match", config: Config{TrustDomains: []string{"test"}}, principal: web, wantStatus: 401, wantID: "mtls_untrusted_domain"},
		{name: "allowed exact id", config: Config{AllowedIDs: []string{web}}, principal: web, wantStatus: 200, wantSubject: web},
		{name: "allowed wildcard segment", config: Config{AllowedIDs: []string{"spiffe://prod.test/ns/*/sa/web"}}, principal: web, wantStatus: 200, wantSubject: web},
		{name: "wildcard matches one segment only", config: Config{AllowedIDs: []string{"spiffe://prod.test/ns/*"}}, principal: web, wantStatus: 403, wantID: "mtls_id_not_allowed"},
		{name: "pattern does not match a longer id", config: Config{AllowedIDs: []string{"spiffe://prod.test/ns/shop/sa/web"}}, principal: web + "/x", wantStatus: 403, wantID: "mtls_id_not_allowed"},
		{name: "pattern does not match a shorter id", config: Config{AllowedIDs: []string{"spiffe://prod.test/ns/shop/sa/web"}}, principal: "spiffe://prod.test/ns/shop/sa", wantStatus: 403, wantID: "mtls_id_not_allowed"},
		{name: "not allowed id", config: Config{AllowedIDs: []string{"spiffe://prod.test/ns/shop/sa/api"}}, principal: web, wantStatus: 403, wantID: "mtls_id_not_allowed"},
		{name: "allowed pattern in another domain", config: Config{AllowedIDs: []string{"spiffe://evil.test/ns/shop/sa/web"}}, principal: web, wantStatus: 403, wantID: "mtls_id_not_allowed"},
		{name: "DNS SAN accepted without constraints", principal: "web.prod.test", wantStatus: 200, wantSubject: "web.prod.test",
			wantExtra: map[string]any{"principal": "web.prod.test", "certificate_present": false}},
		{name: "DNS SAN refused when trust domains are set", config: Config{TrustDomains: []string{"prod.test"}}, principal: "web.prod.test", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "DNS SAN refused with subject_from path", config: Config{SubjectFrom: "path"}, principal: "web.prod.test", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "malformed SPIFFE ID is never a plain principal", principal: "spiffe://prod.test/ns/../sa/admin", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "upper-case scheme", principal: "SPIFFE://prod.test/ns/shop", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "upper-case trust domain", principal: "spiffe://Prod.test/ns/shop", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "port in trust domain", principal: "spiffe://prod.test:443/ns/shop", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "query in path", principal: "spiffe://prod.test/ns/shop?x=1", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "percent encoding in path", principal: "spiffe://prod.test/ns/sh%6Fp", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "trailing slash", principal: "spiffe://prod.test/ns/shop/", wantStatus: 401, wantID: "mtls_invalid_spiffe_id"},
		{name: "control characters", principal: "web\r\nX-Admin: true", wantStatus: 401, wantID: "mtls_invalid_principal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := authenticate(t, tt.config, tt.principal, tt.cert)
			if pipeline.StatusOf(err) != tt.wantStatus || pipeline.ReasonOf(err, "") != tt.wantID {
				t.Fatalf("err = %v, want %d %q", err, tt.wantStatus, tt.wantID)
			}
			if errors.Is(err, pipeline.ErrSkip) {
				t.Errorf("a presented certificate must not be skipped: %v", err)
			}
			if err != nil {
				if s.Subject != "" {
					t.Errorf("subject %q set on failure", s.Subject)
				}
				return
			}
			if s.Subject != tt.wantSubject {
				t.Errorf("subject = %q, want %q", s.Subject, tt.wantSubject)
			}
			if tt.wantExtra != nil {
				if d := cmp.Diff(tt.wantExtra, s.Extra); d != "" {
					t.Errorf("extra (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{"empty config", map[string]any{}, ""},
		{"all keys", map[string]any{"trust_domains": []any{"prod.test"}, "allowed_ids": []any{"spiffe://prod.test/ns/*/sa/web"}, "subject_from": "path"}, ""},
		{"trust domain with upper case", map[string]any{"trust_domains": []any{"Prod.test"}}, `trust_domains[0]: "Prod.test": invalid character`},
		{"trust domain empty", map[string]any{"trust_domains": []any{""}}, "trust_domains[0]: \"\": empty trust domain"},
		{"allowed id not SPIFFE", map[string]any{"allowed_ids": []any{"web.prod.test"}}, `allowed_ids[0]: "web.prod.test": not a SPIFFE ID`},
		{"allowed id with regexp", map[string]any{"allowed_ids": []any{"spiffe://prod.test/ns/.*"}}, `allowed_ids[0]: "spiffe://prod.test/ns/.*": invalid character in path`},
		{"partial wildcard segment", map[string]any{"allowed_ids": []any{"spiffe://prod.test/ns/shop-*"}}, "invalid character in path"},
		{"allowed id outside trust domains", map[string]any{"trust_domains": []any{"prod.test"}, "allowed_ids": []any{"spiffe://stage.test/a"}},
			`allowed_ids[0]: trust domain "stage.test" is not in trust_domains`},
		{"unknown subject_from", map[string]any{"subject_from": "dns"}, `subject_from: unsupported value "dns"`},
		{"unknown key", map[string]any{"allowed_uris": []any{}}, `unknown field "allowed_uris"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.config).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr == "" {
				if err != nil || c.SubjectFrom == "" {
					t.Fatalf("err = %v, subject_from %q", err, c.SubjectFrom)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkAuthenticateAllowedIDs(b *testing.B) {
	a, err := New(Config{TrustDomains: []string{"prod.test"},
		AllowedIDs: []string{"spiffe://prod.test/ns/shop/sa/api", "spiffe://prod.test/ns/*/sa/web"}})
	if err != nil {
		b.Fatal(err)
	}
	r := &pipeline.Request{Source: pipeline.Peer{Principal: "spiffe://prod.test/ns/shop/sa/web"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Authenticate(ctx, r, &pipeline.Session{}); err != nil {
			b.Fatal(err)
		}
	}
}
