package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// known is the authenticator list unknown-handler messages end with.
const known = "(known: anonymous, api_key, bearer_token, cookie_session, envoy_jwt_authn, jwt, mtls, noop, oauth2_client_credentials, oauth2_introspection, unauthorized)"

// TestValidateReportsEveryErrorOnItsOwnLine covers issue #10 item 12: one
// run reports every problem of every file (decode errors, duplicate ids,
// bad patterns, unknown or disabled handlers, bad handler config, bad
// versions; for the service config every unknown key and bad value), one
// line each with file, line, rule id and field and a did-you-mean for
// misspelt keys and handler names, and exits 1.
func TestValidateReportsEveryErrorOnItsOwnLine(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string
	}{
		{
			name:     "rule files",
			args:     []string{"rules", "validate", "testdata/invalid/orders.yaml", "testdata/invalid/billing.json", "testdata/invalid/broken.yaml"},
			wantCode: 1,
			wantStderr: []string{
				`testdata/invalid/billing.json:2: rules[0] (id "health"): duplicate rule id "health" (also testdata/invalid/orders.yaml:31: rules[2] (id "health"))`,
				`testdata/invalid/billing.json:11: rules[1] (id "billing"): match.methods: must be a list, not a string`,
				`testdata/invalid/broken.yaml:2: parse rules: did not find expected ',' or '}'`,
				"testdata/invalid/orders.yaml:3: rules[0] (id \"orders-read\"): match.url: compile pattern \"https://api.test/orders/<[0-9+>\": <[0-9+>: error parsing regexp: unterminated [] set in `^[0-9+$`",
				`testdata/invalid/orders.yaml:3: rules[0] (id "orders-read"): authenticators[0] (jwtt): unknown handler "jwtt" (did you mean "jwt"?) ` + known,
				`testdata/invalid/orders.yaml:3: rules[0] (id "orders-read"): mutators[0] (header): config: unknown field "header" (did you mean "headers"?)`,
				`testdata/invalid/orders.yaml:4: rules[0] (id "orders-read"): version: "v0.40.x" is not a semantic version such as v0.40.6`,
				`testdata/invalid/orders.yaml:7: rules[0] (id "orders-read"): match: unknown field "method" (did you mean "methods"?)`,
				`testdata/invalid/orders.yaml:17: rules[1] (id "orders-write"): match: must be set`,
				`testdata/invalid/orders.yaml:17: rules[1] (id "orders-write"): authorizer (remote_json): config: unknown field "forward_response_headers_to_upstrem" (did you mean "forward_response_headers_to_upstream"?)`,
				`testdata/invalid/orders.yaml:18: rules[1] (id "orders-write"): unknown field "mach" (did you mean "match"?)`,
				`portcullis: rules validate: 11 errors`,
			},
		},
		{
			name:     "rules against a config that disables their handlers",
			args:     []string{"rules", "validate", "--config", "testdata/valid/config.yaml", "testdata/invalid/uses-disabled.yaml"},
			wantCode: 1,
			wantStderr: []string{
				`testdata/invalid/uses-disabled.yaml:1: rules[0] (id "admin"): authenticators[0] (jwt): handler "jwt" is disabled: enable it with authenticators.jwt.enabled`,
				`testdata/invalid/uses-disabled.yaml:1: rules[0] (id "admin"): authorizer (remote_json): handler "remote_json" is disabled: enable it with authorizers.remote_json.enabled`,
				`portcullis: rules validate: 2 errors`,
			},
		},
		{
			name:     "rules against a broken config still report both",
			args:     []string{"rules", "validate", "--config", "testdata/invalid/config.yaml", "testdata/valid/rules.yaml"},
			wantCode: 1,
			wantStderr: []string{
				`testdata/invalid/config.yaml:4: serve.grpc.prot: unknown key (did you mean "serve.grpc.port"?)`,
				`testdata/invalid/config.yaml:6: serve.metrics.port: must be a whole number, not a list`,
				`testdata/invalid/config.yaml:11: authenticators.jwtt: unknown handler (did you mean "jwt"?) ` + known,
				`testdata/invalid/config.yaml:14: authenticators.anonymous.enabeld: unknown key (did you mean "authenticators.anonymous.enabled"?)`,
				`testdata/invalid/config.yaml:18: log.level: unknown level "loud"`,
				`portcullis: rules validate: 5 errors`,
			},
		},
		{
			name:     "service config",
			args:     []string{"config", "validate", "--config", "testdata/invalid/config.yaml"},
			wantCode: 1,
			wantStderr: []string{
				`testdata/invalid/config.yaml:4: serve.grpc.prot: unknown key (did you mean "serve.grpc.port"?)`,
				`testdata/invalid/config.yaml:6: serve.metrics.port: must be a whole number, not a list`,
				`testdata/invalid/config.yaml:11: authenticators.jwtt: unknown handler (did you mean "jwt"?) ` + known,
				`testdata/invalid/config.yaml:14: authenticators.anonymous.enabeld: unknown key (did you mean "authenticators.anonymous.enabled"?)`,
				`testdata/invalid/config.yaml:18: log.level: unknown level "loud"`,
				`testdata/invalid/config.yaml: access_rules.repositories[0]: "ftp://rules.test/rules.json": unsupported scheme "ftp"`,
				`testdata/invalid/config.yaml: access_rules.matching_strategy: unknown matching strategy "globb" (known: glob, regexp)`,
				`portcullis: config validate: 7 errors`,
			},
		},
		{
			name:       "valid rules",
			args:       []string{"rules", "validate", "--config", "testdata/valid/config.yaml", "testdata/valid/rules.yaml"},
			wantStdout: "1 rule OK\n",
			wantStderr: []string{
				`warning: testdata/valid/rules.yaml:1: rules[0] (id "public"): match.url https://api.test/public/<.*> does not match https://api.test/public or https://api.test/public/ (a trailing slash is removed before matching); write https://api.test/public<(/.*)?> to cover both`,
			},
		},
		{
			name:       "valid config",
			args:       []string{"config", "validate", "--config", "testdata/valid/config.yaml"},
			wantStdout: "config OK\n",
		},
		{
			name:       "config validate needs --config",
			args:       []string{"config", "validate"},
			wantCode:   1,
			wantStderr: []string{`portcullis: required flag(s) "config" not set`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.wantStdout)
			}
			var got []string
			if s := strings.TrimSuffix(stderr.String(), "\n"); s != "" {
				got = strings.Split(s, "\n")
			}
			if diff := cmp.Diff(tt.wantStderr, got); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
