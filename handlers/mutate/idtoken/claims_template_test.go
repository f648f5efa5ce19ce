package idtoken

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestClaimsBreakoutIsDenied: a value that breaks out of its quotes used
// to add a claim (an "admin": true the upstream trusts, signed by the
// gateway). Now no token is minted and the request fails closed with its
// own reason.
func TestClaimsBreakoutIsDenied(t *testing.T) {
	breakout := `a@b.c","admin":true,"x":"`
	tests := []struct {
		name, claims, subject string
		extra                 map[string]any
	}{
		{name: "subject adds a claim", claims: `{"aud":"svc","name":"{{ .Subject }}"}`, subject: breakout},
		{name: "extra value adds a claim", claims: `{"aud":"svc","email":"{{ .Extra.email }}"}`, extra: map[string]any{"email": breakout}},
		{name: "extra value adds a nested claim", claims: `{"aud":"svc","profile":{"email":"{{ .Extra.email }}"}}`,
			extra: map[string]any{"email": breakout}},
		{name: "value overrides a later claim", claims: `{"name":"{{ .Subject }}","aud":"svc"}`, subject: `x","aud":"other`},
		{name: "unquoted action adds a claim", claims: `{"level":{{ print .Extra.level }}}`, extra: map[string]any{"level": `1,"admin":true`}},
		{name: "duplicate claim", claims: `{"aud":"svc"{{ if .Extra.other }},"aud":"other"{{ end }}}`, extra: map[string]any{"other": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"), Claims: tt.claims}, NewSigners(Options{}))
			s := &pipeline.Session{Subject: tt.subject, Extra: tt.extra}
			err := m.Mutate(context.Background(), &pipeline.Request{}, s)
			if pipeline.StatusOf(err) != http.StatusInternalServerError || pipeline.ReasonOf(err, "") != "id_token_template_output_invalid" {
				t.Fatalf("err = %v, want 500 id_token_template_output_invalid", err)
			}
			if strings.Contains(err.Error(), "admin") || strings.Contains(err.Error(), "other") {
				t.Errorf("error shows claim content: %v", err)
			}
			if len(s.Header) != 0 {
				t.Errorf("header set: %v", s.Header)
			}
		})
	}
}

// TestReservedClaimsWinOverAnyTemplate: whichever way the template writes
// iss, sub, exp, iat, nbf or jti (literally, conditionally, from a
// session value), the minted token carries the mutator's; aud and the
// other claims are the template's, as in Oathkeeper.
func TestReservedClaimsWinOverAnyTemplate(t *testing.T) {
	extra := map[string]any{"iss": "https://evil.test", "sub": "admin", "exp": 9999999999, "n": 10}
	for _, claims := range []string{
		`{"iss":{{ jsonQuote .Extra.iss }},"sub":{{ jsonQuote .Extra.sub }},"exp":{{ print .Extra.exp }},"iat":1,"nbf":1,"jti":"fixed","aud":"svc","n":{{ print .Extra.n }}}`,
		`{ {{- if .Extra.iss }}"iss":"{{ .Extra.iss }}","sub":"{{ .Extra.sub }}",{{ end -}} "exp":{{ .Extra.exp }},"jti":"fixed","aud":"svc","n":{{ .Extra.n }} }`,
	} {
		clk := newClock()
		s := NewSigners(Options{Now: clk.Now})
		m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"), TTL: pipeline.Duration(time.Minute), Claims: claims}, s)
		tok := bearer(t, mutate(t, m, "alice", extra))
		c := verify(t, s, clk, tok, testIssuer)
		now := clk.Now()
		if c.Issuer() != testIssuer || c.Subject() != "alice" || !c.Expiration().Equal(now.Add(time.Minute)) ||
			!c.IssuedAt().Equal(now) || !c.NotBefore().Equal(now) || c.JwtID() == "fixed" || c.JwtID() == "" {
			t.Errorf("%s: iss=%q sub=%q exp=%v iat=%v nbf=%v jti=%q", claims, c.Issuer(), c.Subject(), c.Expiration(), c.IssuedAt(), c.NotBefore(), c.JwtID())
		}
		var raw map[string]any
		if err := json.Unmarshal(payloadOf(t, tok), &raw); err != nil {
			t.Fatal(err)
		}
		if raw["aud"] != "svc" || raw["n"] != float64(10) {
			t.Errorf("%s: aud=%v n=%v, want the template's", claims, raw["aud"], raw["n"])
		}
	}
}

// TestClaimsTemplateLoadErrors: claims that read the environment, or
// whose top-level claims an action would choose, do not load.
func TestClaimsTemplateLoadErrors(t *testing.T) {
	tests := []struct{ name, claims, want string }{
		{"env", `{"home":"{{ env "HOME" }}"}`, `function "env" is not available`},
		{"expandenv", `{"home":"{{ expandenv "$HOME" }}"}`, `function "expandenv" is not available`},
		{"random jti", `{"x":"{{ uuidv4 }}"}`, `function "uuidv4" is not available`},
		{"all claims from an action", `{{ toJson .Extra }}`, "must start with its own text"},
		{"static duplicate", `{"aud":"a","aud":"b"}`, "duplicate member"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json"), Claims: tt.claims}, NewSigners(Options{}))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "claims") {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
