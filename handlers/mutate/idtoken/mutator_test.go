package idtoken

import (
	"context"
	"crypto/elliptic"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/portcullis-authz/portcullis/pipeline"
)

const testIssuer = "https://gateway.test/"

func TestMintedTokenVerifiesWithPublishedJWKS(t *testing.T) {
	ec := newECKey(t, elliptic.P256())
	tests := []struct {
		name    string
		jwksURL func(t *testing.T) string
		wantAlg jwa.SignatureAlgorithm
		wantKID string
	}{
		{"RS256 key with alg", func(t *testing.T) string {
			return writeJWKS(t, jwksJSON(t, jwkOf(t, testRSAKey(t), "kid", "r1", "alg", "RS256")))
		}, jwa.RS256, "r1"},
		{"RSA key without alg signs RS256", func(t *testing.T) string {
			return writeJWKS(t, jwksJSON(t, jwkOf(t, testRSAKey(t), "kid", "r2")))
		}, jwa.RS256, "r2"},
		{"PS256 from the JWK alg", func(t *testing.T) string {
			return writeJWKS(t, jwksJSON(t, jwkOf(t, testRSAKey(t), "kid", "p1", "alg", "PS256")))
		}, jwa.PS256, "p1"},
		{"ES256 inferred from P-256", func(t *testing.T) string {
			return writeJWKS(t, jwksJSON(t, jwkOf(t, ec, "kid", "e1")))
		}, jwa.ES256, "e1"},
		{"ES384 inferred from P-384", func(t *testing.T) string {
			return writeJWKS(t, jwksJSON(t, jwkOf(t, newECKey(t, elliptic.P384()), "kid", "e3")))
		}, jwa.ES384, "e3"},
		{"EdDSA inferred from Ed25519", func(t *testing.T) string {
			return writeJWKS(t, jwksJSON(t, jwkOf(t, newEdKey(t), "kid", "ed")))
		}, jwa.EdDSA, "ed"},
		{"key without kid gets its thumbprint", func(t *testing.T) string {
			return writeJWKS(t, jwksJSON(t, jwkOf(t, ec)))
		}, jwa.ES256, thumbprint(t, ec)},
		{"oathkeeper rsa-multiple uses the public entry's kid", func(t *testing.T) string {
			return fixtureURL(t, "jwks-rsa-multiple.json")
		}, jwa.RS256, "3e0edde4-12ad-425d-a783-135f46eac57e"},
		{"oathkeeper ecdsa uses the public entry's kid", func(t *testing.T) string {
			return fixtureURL(t, "jwks-ecdsa.json")
		}, jwa.ES256, "21d9eefe-34b6-42b3-b643-2b30e0ab59e0"},
		{"oathkeeper e2e id token set", func(t *testing.T) string {
			return fixtureURL(t, "jwks-idt.json")
		}, jwa.RS256, "aa26e6d8-3044-4ece-8e7d-4eae083d44d5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := NewSigners(Options{Now: clk.Now})
			m := newMutator(t, Config{
				IssuerURL: testIssuer, JWKSURL: tt.jwksURL(t), TTL: pipeline.Duration(10 * time.Minute),
				Claims: `{"aud":["svc-a"],"email":{{ jsonQuote .Extra.email }},"n":12345678901234567890}`,
			}, s)
			tok := bearer(t, mutate(t, m, "alice", map[string]any{"email": `a"lice@example.com`}))

			hdr := protectedHeader(t, tok)
			if hdr.Algorithm() != tt.wantAlg || hdr.KeyID() != tt.wantKID || hdr.Type() != "JWT" {
				t.Errorf("header alg=%s kid=%s typ=%s, want %s %s JWT", hdr.Algorithm(), hdr.KeyID(), hdr.Type(), tt.wantAlg, tt.wantKID)
			}
			claims := verify(t, s, clk, tok, testIssuer)
			now := clk.Now()
			if claims.Subject() != "alice" || !claims.IssuedAt().Equal(now) || !claims.NotBefore().Equal(now) ||
				!claims.Expiration().Equal(now.Add(10*time.Minute)) {
				t.Errorf("sub=%q iat=%v nbf=%v exp=%v", claims.Subject(), claims.IssuedAt(), claims.NotBefore(), claims.Expiration())
			}
			if aud := claims.Audience(); len(aud) != 1 || aud[0] != "svc-a" {
				t.Errorf("aud = %v", aud)
			}
			if email, _ := claims.Get("email"); email != `a"lice@example.com` {
				t.Errorf("email = %v", email)
			}
			if _, err := uuid.Parse(claims.JwtID()); err != nil {
				t.Errorf("jti %q is not a uuid", claims.JwtID())
			}
			if !strings.Contains(string(payloadOf(t, tok)), `"n":12345678901234567890`) {
				t.Errorf("large integer claim changed: %s", payloadOf(t, tok))
			}
		})
	}
}

func thumbprint(t *testing.T, raw any) string {
	t.Helper()
	pub, err := jwk.PublicKeyOf(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := jwk.AssignKeyID(pub); err != nil {
		t.Fatal(err)
	}
	return pub.KeyID()
}

func protectedHeader(t *testing.T, tok string) jws.Headers {
	t.Helper()
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Signatures()[0].ProtectedHeaders()
}

func payloadOf(t *testing.T, tok string) []byte {
	t.Helper()
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Payload()
}

// TestReservedClaimsCannotBeOverridden mirrors Oathkeeper's test-rule9: a
// template that sets iss, sub, exp, iat, nbf or jti has no effect. (A
// value injected into the template is refused before, see
// TestClaimsBreakoutIsDenied.)
func TestReservedClaimsCannotBeOverridden(t *testing.T) {
	tests := []struct{ name, claims, subject string }{
		{"template sets every reserved claim",
			`{"iss":"https://evil.test","sub":"admin","exp":9999999999,"iat":1,"nbf":1,"jti":"fixed","aud":"svc"}`, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := NewSigners(Options{Now: clk.Now})
			m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"), Claims: tt.claims}, s)
			claims := verify(t, s, clk, bearer(t, mutate(t, m, tt.subject, nil)), testIssuer)
			now := clk.Now()
			if claims.Issuer() != testIssuer || claims.Subject() != tt.subject || !claims.Expiration().Equal(now.Add(DefaultTTL)) ||
				!claims.IssuedAt().Equal(now) || !claims.NotBefore().Equal(now) || claims.JwtID() == "fixed" {
				t.Errorf("reserved claims overridden: iss=%q sub=%q exp=%v iat=%v nbf=%v jti=%q",
					claims.Issuer(), claims.Subject(), claims.Expiration(), claims.IssuedAt(), claims.NotBefore(), claims.JwtID())
			}
		})
	}
}

func TestClaimsTemplateFailuresFailClosed(t *testing.T) {
	tests := []struct {
		name    string
		claims  string
		subject string
		extra   map[string]any
		newErr  string // substring of the New error; "" if New succeeds
		wantID  string
	}{
		{name: "unterminated action is a load error", claims: `{"a":"{{ .Subject "}`, newErr: "claims:"},
		{name: "unknown function is a load error", claims: `{"a":{{ nosuch .Subject }}}`, newErr: "claims:"},
		{name: "execution error", claims: `{"a":"{{ .Subject.Field }}"}`, subject: "alice", wantID: "id_token_claims_template"},
		{name: "unquoted value is not JSON", claims: `{"a":{{ .Subject }}}`, subject: "s3cr3t-value", wantID: "id_token_claims_invalid"},
		{name: "array is not an object", claims: `[{{ jsonQuote .Subject }}]`, subject: "alice", wantID: "id_token_claims_invalid"},
		{name: "null is not an object", claims: `null`, subject: "alice", wantID: "id_token_claims_invalid"},
		{name: "empty render is not JSON", claims: `{{ if false }}{}{{ end }}`, subject: "alice", wantID: "id_token_claims_invalid"},
		{name: "static text that is not JSON is a load error", claims: `{} {"iss":"x"}`, newErr: "claims:"},
		{name: "trailing data after the object", claims: `{} {"iss":"{{ .Subject }}"}`, subject: "alice", wantID: "id_token_claims_invalid"},
		{name: "oversized claims", claims: `{"g":{{ jsonQuote .Extra.big }}}`, subject: "alice",
			extra: map[string]any{"big": strings.Repeat("g", MaxClaimsBytes)}, wantID: "id_token_claims_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSigners(Options{})
			m, err := New(Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"), Claims: tt.claims}, s)
			if tt.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.newErr) {
					t.Fatalf("New error = %v, want %q", err, tt.newErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sess := &pipeline.Session{Subject: tt.subject, Extra: tt.extra}
			err = m.Mutate(context.Background(), &pipeline.Request{}, sess)
			if pipeline.StatusOf(err) != http.StatusInternalServerError || pipeline.ReasonOf(err, "") != tt.wantID {
				t.Fatalf("err = %v, want 500 %s", err, tt.wantID)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("error leaks a session value: %v", err)
			}
			if len(sess.Header) != 0 {
				t.Errorf("header set on failure: %v", sess.Header)
			}
		})
	}
}

func TestEmptyClaimsMintsOnlyReservedClaims(t *testing.T) {
	clk := newClock()
	s := NewSigners(Options{Now: clk.Now})
	m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json")}, s)
	claims := verify(t, s, clk, bearer(t, mutate(t, m, "alice", nil)), testIssuer)
	got, err := claims.AsMap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k := range got {
		switch k {
		case "iss", "sub", "exp", "iat", "nbf", "jti":
		default:
			t.Errorf("unexpected claim %q", k)
		}
	}
}

func TestHeaderReplacesInboundCredential(t *testing.T) {
	tests := []struct {
		name, header, wantKey string
		bearer                bool
	}{
		{"default is Authorization with Bearer", "", "authorization", true},
		{"lower-case authorization still gets Bearer", "authorization", "authorization", true},
		{"other header carries the bare token", "X-Id-Token", "x-id-token", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSigners(Options{})
			m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"), Header: tt.header}, s)
			// An earlier mutator (or the front door's echo) left the inbound
			// credential; the minted token must replace it (C-12).
			sess := &pipeline.Session{Subject: "alice", Header: pipeline.Header{tt.wantKey: {"Bearer inbound", "Bearer second"}}}
			if err := m.Mutate(context.Background(), &pipeline.Request{}, sess); err != nil {
				t.Fatal(err)
			}
			vals := sess.Header.Values(tt.wantKey)
			if len(vals) != 1 {
				t.Fatalf("%s has %d values, want exactly one", tt.wantKey, len(vals))
			}
			tok, hasBearer := strings.CutPrefix(vals[0], "Bearer ")
			if hasBearer != tt.bearer || strings.Count(tok, ".") != 2 {
				t.Errorf("%s = %q, bearer prefix %v, want %v", tt.wantKey, vals[0], hasBearer, tt.bearer)
			}
			if !tt.bearer && sess.Header.Get("authorization") != "" {
				t.Error("authorization set although another header was configured")
			}
		})
	}
}

func TestNewRejectsMissingSigners(t *testing.T) {
	_, err := New(Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json")}, nil)
	if err == nil || !strings.Contains(err.Error(), "Signers") {
		t.Fatalf("err = %v", err)
	}
}

// TestNewRejectsUnloadableKeys: a key set that is read but cannot sign is
// a configuration error, and the rule does not load. (A set that cannot be
// read yet is retried instead: TestUnavailableKeySetLoadsLater.)
func TestNewRejectsUnloadableKeys(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"symmetric key set", "", "jwks_url: keys[0]"},
		{"no private key", "", "no asymmetric private signing key"},
		{"invalid config", "ftp://keys", `jwks_url: unsupported scheme "ftp"`},
		{"file over 1 MiB", "", "file larger than 1 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			switch tt.name {
			case "symmetric key set":
				u = fixtureURL(t, "jwks-hs.json")
			case "file over 1 MiB":
				u = writeJWKS(t, []byte(strings.Repeat(" ", maxFileBytes+1)))
			case "no private key":
				u = writeJWKS(t, jwksJSON(t, jwkOf(t, &newECKey(t, elliptic.P256()).PublicKey, "kid", "pub")))
			}
			_, err := New(Config{IssuerURL: testIssuer, JWKSURL: u}, NewSigners(Options{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
