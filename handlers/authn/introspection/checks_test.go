package introspection

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestChecksRunInOathkeeperOrder(t *testing.T) {
	d := newDeps()
	future, past := d.now.Unix()+300, d.now.Unix()-1
	strict := map[string]any{"target_audience": []any{"api", "web"}, "trusted_issuers": []any{"https://idp.test"},
		"scope_strategy": "exact", "required_scope": []any{"read"}}
	tests := []struct {
		name        string
		answer      string
		config      map[string]any
		wantStatus  int
		wantID      string
		wantSubject string
		wantExtra   map[string]any
	}{
		{name: "active token fills the session",
			answer: fmt.Sprintf(`{"active":true,"sub":"alice","username":"al","client_id":"c1","scope":"read write","aud":["api","web"],"iss":"https://idp.test","exp":%d,"ext":{"tenant":"t1"}}`, future),
			config: strict, wantSubject: "alice",
			wantExtra: map[string]any{"tenant": "t1", "username": "al", "client_id": "c1", "scope": "read write", "aud": []string{"api", "web"}}},
		{name: "no aud leaves aud out of extra", answer: `{"active":true,"sub":"bob"}`, wantSubject: "bob",
			wantExtra: map[string]any{"username": "", "client_id": "", "scope": ""}},
		{name: "aud as a string", answer: `{"active":true,"aud":"api"}`, config: map[string]any{"target_audience": []any{"api"}},
			wantExtra: map[string]any{"username": "", "client_id": "", "scope": "", "aud": []string{"api"}}},
		{name: "token_use comes first", answer: `{"active":false,"token_use":"id_token"}`, wantStatus: 403, wantID: IDTokenUse},
		{name: "token_use access_token passes", answer: `{"active":true,"token_use":"access_token"}`,
			wantExtra: map[string]any{"username": "", "client_id": "", "scope": ""}},
		{name: "inactive", answer: `{"active":false,"sub":"alice"}`, config: strict, wantStatus: 401, wantID: IDInactive},
		{name: "expired before audience", answer: fmt.Sprintf(`{"active":true,"exp":%d,"aud":"other"}`, past), config: strict,
			wantStatus: 401, wantID: IDExpired},
		{name: "every target audience is required", answer: fmt.Sprintf(`{"active":true,"exp":%d,"aud":["api"]}`, future),
			config: strict, wantStatus: 403, wantID: IDAudience},
		{name: "issuer before scope", answer: `{"active":true,"aud":["api","web"],"iss":"https://evil.test","scope":"none"}`,
			config: strict, wantStatus: 403, wantID: IDIssuer},
		{name: "missing scope", answer: `{"active":true,"aud":["api","web"],"iss":"https://idp.test","scope":"write"}`,
			config: strict, wantStatus: 403, wantID: IDScope},
		{name: "hierarchic scope", answer: `{"active":true,"scope":"orders"}`,
			config:    map[string]any{"scope_strategy": "hierarchic", "required_scope": []any{"orders.read"}},
			wantExtra: map[string]any{"username": "", "client_id": "", "scope": "orders"}},
		{name: "wildcard scope", answer: `{"active":true,"scope":"orders.*"}`,
			config:    map[string]any{"scope_strategy": "wildcard", "required_scope": []any{"orders.read"}},
			wantExtra: map[string]any{"username": "", "client_id": "", "scope": "orders.*"}},
		{name: "strategy none leaves scope to the endpoint", answer: `{"active":true,"scope":""}`,
			config: map[string]any{"required_scope": []any{"read"}}, wantExtra: map[string]any{"username": "", "client_id": "", "scope": ""}},
		// D-05 / D-17: one documented success shape; anything else fails.
		// Issue #8 item 4: an active member that is not a boolean is its
		// own reason, told apart from an inactive token.
		{name: "active as a string is not active", answer: `{"active":"true","sub":"admin"}`, wantStatus: 401, wantID: IDActiveInvalid},
		{name: "active as a number is not active", answer: `{"active":1}`, wantStatus: 401, wantID: IDActiveInvalid},
		{name: "active null is not active", answer: `{"active":null,"sub":"admin"}`, wantStatus: 401, wantID: IDActiveInvalid},
		{name: "missing active is not active", answer: `{"sub":"admin","scope":"read"}`, wantStatus: 401, wantID: IDActiveInvalid},
		{name: "duplicate active", answer: `{"active":false,"active":true}`, wantStatus: 500, wantID: IDInvalid},
		{name: "upper-case ACTIVE is not active", answer: `{"active":false,"ACTIVE":true}`, wantStatus: 401, wantID: IDInactive},
		{name: "exp as a string", answer: fmt.Sprintf(`{"active":true,"exp":"%d"}`, future), wantStatus: 500, wantID: IDInvalid},
		{name: "negative exp", answer: `{"active":true,"exp":-5}`, wantStatus: 500, wantID: IDInvalid},
		{name: "aud of the wrong type", answer: `{"active":true,"aud":5}`, wantStatus: 500, wantID: IDInvalid},
		{name: "aud array with a number", answer: `{"active":true,"aud":["api",5]}`, wantStatus: 500, wantID: IDInvalid},
		{name: "sub of the wrong type", answer: `{"active":true,"sub":["admin"]}`, wantStatus: 500, wantID: IDInvalid},
		{name: "ext that is not an object", answer: `{"active":true,"ext":"x"}`, wantStatus: 500, wantID: IDInvalid},
		{name: "array answer", answer: `[{"active":true}]`, wantStatus: 500, wantID: IDInvalid},
		{name: "non-json answer", answer: `active=true`, wantStatus: 500, wantID: IDInvalid},
		{name: "null answer", answer: `null`, wantStatus: 401, wantID: IDActiveInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newIDP(t, map[string]string{"opaque-s3cr3t": tt.answer})
			raw := map[string]any{"introspection_url": p.URL}
			for k, v := range tt.config {
				raw[k] = v
			}
			a, err := d.build(t, raw)
			if err != nil {
				t.Fatal(err)
			}
			s := &pipeline.Session{}
			err = a.Authenticate(context.Background(), bearer("opaque-s3cr3t"), s)
			if tt.wantStatus != 0 {
				if pipeline.StatusOf(err) != tt.wantStatus || pipeline.ReasonOf(err, "") != tt.wantID {
					t.Fatalf("err = %v, want %d %s", err, tt.wantStatus, tt.wantID)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("error mentions the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Subject != tt.wantSubject {
				t.Fatalf("subject = %q, want %q", s.Subject, tt.wantSubject)
			}
			if diff := cmp.Diff(tt.wantExtra, s.Extra); diff != "" {
				t.Fatalf("extra (-want +got):\n%s", diff)
			}
		})
	}
}
