package introspection

import (
	"context"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestOnlyAllowedTokenTypesAuthenticate is the regression test of issue #8
// item 4: a refresh token never authenticates a request unless the rule
// lists its type in allowed_token_types. Oathkeeper checked token_use only;
// an endpoint that says "refresh" in token_type (RFC 7662's member) was
// accepted.
func TestOnlyAllowedTokenTypesAuthenticate(t *testing.T) {
	both := map[string]any{"allowed_token_types": []any{"access_token", "refresh_token"}}
	onlyRefresh := map[string]any{"allowed_token_types": []any{"refresh_token"}}
	tests := []struct {
		name       string
		answer     string
		config     map[string]any
		wantStatus int
		wantID     string
	}{
		{name: "no type members is an access token", answer: `{"active":true,"sub":"alice"}`},
		{name: "token_type Bearer is an access token", answer: `{"active":true,"token_type":"Bearer"}`},
		{name: "token_type DPoP is an access token", answer: `{"active":true,"token_type":"DPoP"}`},
		{name: "token_use access_token", answer: `{"active":true,"token_use":"access_token","token_type":"bearer"}`},
		{name: "token_use refresh_token", answer: `{"active":true,"token_use":"refresh_token"}`, wantStatus: 403, wantID: IDTokenUse},
		{name: "token_type refresh_token", answer: `{"active":true,"sub":"alice","token_type":"refresh_token"}`,
			wantStatus: 403, wantID: IDTokenType},
		{name: "token_type Refresh in any case", answer: `{"active":true,"token_type":"Refresh"}`, wantStatus: 403, wantID: IDTokenType},
		{name: "token_type as an RFC 8693 URI", answer: `{"active":true,"token_type":"urn:ietf:params:oauth:token-type:refresh_token"}`,
			wantStatus: 403, wantID: IDTokenType},
		{name: "token_type id_token", answer: `{"active":true,"token_type":"urn:ietf:params:oauth:token-type:id_token"}`,
			wantStatus: 403, wantID: IDTokenType},
		{name: "type members that disagree: the stricter one decides", answer: `{"active":true,"token_use":"access_token","token_type":"refresh_token"}`,
			wantStatus: 403, wantID: IDTokenType},
		{name: "token_type of the wrong type is malformed", answer: `{"active":true,"token_type":1}`, wantStatus: 500, wantID: IDInvalid},
		{name: "the type check comes before active", answer: `{"active":false,"token_type":"refresh_token"}`, wantStatus: 403, wantID: IDTokenType},
		{name: "refresh allowed explicitly (token_type)", answer: `{"active":true,"token_type":"refresh_token"}`, config: both},
		{name: "refresh allowed explicitly (token_use)", answer: `{"active":true,"token_use":"refresh_token"}`, config: both},
		{name: "only refresh allowed refuses an access token", answer: `{"active":true,"token_type":"Bearer"}`, config: onlyRefresh,
			wantStatus: 403, wantID: IDTokenType},
		{name: "only refresh allowed refuses an untyped answer", answer: `{"active":true}`, config: onlyRefresh,
			wantStatus: 403, wantID: IDTokenType},
	}
	d := newDeps()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, map[string]string{"t": tt.answer})
			raw := map[string]any{"introspection_url": p.URL}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := d.build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			err = a.Authenticate(context.Background(), bearer("t"), &pipeline.Session{})
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("err = %v, want success", err)
				}
				return
			}
			if pipeline.StatusOf(err) != tt.wantStatus || pipeline.ReasonOf(err, "") != tt.wantID {
				t.Fatalf("err = %v, want %d %s", err, tt.wantStatus, tt.wantID)
			}
		})
	}
}

func TestAllowedTokenTypesConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		types   []any
		wantErr string
	}{
		{name: "empty entry", types: []any{"access_token", " "}, wantErr: "allowed_token_types[1]: must not be empty"},
		{name: "duplicate entry", types: []any{"refresh_token", "refresh_token"}, wantErr: `allowed_token_types[1]: duplicate "refresh_token"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newDeps().build(t, map[string]any{"introspection_url": "https://idp.test/i", "allowed_token_types": tt.types})
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	var c Config
	c.IntrospectionURL = "https://idp.test/i"
	if err := c.Validate(); err != nil || len(c.AllowedTokenTypes) != 1 || c.AllowedTokenTypes[0] != "access_token" {
		t.Fatalf("default allowed_token_types = %v (%v), want [access_token]", c.AllowedTokenTypes, err)
	}
}
