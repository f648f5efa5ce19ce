package remotejson

import (
	"context"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestD05DecisionPathAllowsOnlyLiteralTrue: with decision_path, only 200
// and the JSON boolean true allows (SECURITY_CASES D-05, Oathkeeper issue
// #1125).
func TestD05DecisionPathAllowsOnlyLiteralTrue(t *testing.T) {
	tests := []struct {
		name   string
		code   int
		body   string
		status int
		id     string
	}{
		{"200 allow true", 200, `{"result":{"allow":true}}`, 200, ""},
		{"200 allow false", 200, `{"result":{"allow":false}}`, 403, "remote_json_denied"},
		{"200 empty body", 200, ``, 500, "remote_json_response_invalid"},
		{"200 allow as string", 200, `{"result":{"allow":"true"}}`, 403, "remote_json_decision_invalid"},
		{"200 allow as number", 200, `{"result":{"allow":1}}`, 403, "remote_json_decision_invalid"},
		{"200 allow null", 200, `{"result":{"allow":null}}`, 403, "remote_json_decision_invalid"},
		{"200 path missing", 200, `{"result":{}}`, 403, "remote_json_decision_invalid"},
		{"200 result undefined (OPA without a rule)", 200, `{}`, 403, "remote_json_decision_invalid"},
		{"200 duplicate key true then false", 200, `{"result":{"allow":true,"allow":false}}`, 500, "remote_json_response_invalid"},
		{"200 duplicate key false then true", 200, `{"result":{"allow":false,"allow":true}}`, 500, "remote_json_response_invalid"},
		{"200 trailing garbage", 200, `{"result":{"allow":true}} {"result":{"allow":false}}`, 500, "remote_json_response_invalid"},
		{"200 not JSON", 200, `allow`, 500, "remote_json_response_invalid"},
		{"201 with allow true", 201, `{"result":{"allow":true}}`, 500, "remote_json_unexpected_status"},
		{"204", 204, ``, 500, "remote_json_unexpected_status"},
		{"403 with allow true", 403, `{"result":{"allow":true}}`, 403, "remote_json_denied"},
		{"429", 429, ``, 429, "remote_json_rate_limited"},
		{"500 with allow true", 500, `{"result":{"allow":true}}`, 500, "remote_json_unexpected_status"},
		{"200 with 5 MiB body", 200, `{"result":{"allow":true},"pad":"` + strings.Repeat("x", 5<<20) + `"}`, 500, "remote_json_response_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, answer(tt.code, tt.body))
			err := newAuthorizer(t, Config{Remote: f.URL, Payload: `{"input":{}}`, DecisionPath: "result.allow"}).
				Authorize(context.Background(), testRequest(), testSession())
			if pipeline.StatusOf(err) != tt.status || pipeline.ReasonOf(err, "") != tt.id {
				t.Errorf("err = %v, want %d %q", err, tt.status, tt.id)
			}
		})
	}
}

func TestDecisionPathSupportsOPAResultShapes(t *testing.T) {
	tests := []struct{ path, body string }{
		{"result", `{"result":true}`},
		{"result.allow", `{"decision_id":"d","result":{"allow":true,"reasons":["ok"]}}`},
		{"result.0.allowed", `{"result":[{"allowed":true}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := newFakeRemote(t, answer(200, tt.body))
			if err := newAuthorizer(t, Config{Remote: f.URL, Payload: "{}", DecisionPath: tt.path}).
				Authorize(context.Background(), testRequest(), testSession()); err != nil {
				t.Error(err)
			}
		})
	}
}
