package remotejson

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestValidateRejectsBadKeysAndAppliesDefaults(t *testing.T) {
	base := func(kv ...any) map[string]any {
		m := map[string]any{"remote": "https://opa.test/v1/data/authz", "payload": `{"input":{}}`}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "minimal config gets default timeout", config: base(), check: func(t *testing.T, c Config) {
			if c.Timeout.Std() != DefaultTimeout || c.Retry != nil || c.DecisionPath != "" {
				t.Errorf("config = %+v", c)
			}
		}},
		{name: "all keys accepted", config: base("headers", map[string]any{"X-A": "{{ .Subject }}"}, "timeout", "300ms",
			"forward_response_headers_to_upstream", []any{"X-Decision-Id"}, "decision_path", "result.allow",
			"retry", map[string]any{"give_up_after": "500ms", "max_delay": "20ms"}),
			check: func(t *testing.T, c Config) {
				if c.Timeout.Std() != 300*time.Millisecond || c.Retry.MaxDelay.Std() != 20*time.Millisecond ||
					c.ForwardResponseHeadersToUpstream[0] != "x-decision-id" || c.DecisionPath != "result.allow" {
					t.Errorf("config = %+v", c)
				}
			}},
		{name: "empty retry block gets defaults", config: base("retry", map[string]any{}), check: func(t *testing.T, c Config) {
			if c.Retry.GiveUpAfter.Std() != DefaultGiveUpAfter || c.Retry.MaxDelay.Std() != DefaultMaxDelay {
				t.Errorf("retry = %+v", *c.Retry)
			}
		}},
		{name: "templated payload is not checked as JSON before rendering", config: base("payload", `{"n": {{ .Extra.n }}}`),
			check: func(t *testing.T, c Config) {}},
		{name: "remote is required", config: map[string]any{"payload": "{}"}, wantErr: "remote: required"},
		{name: "remote scheme", config: base("remote", "htp://opa.test"), wantErr: `remote: unsupported scheme "htp"`},
		{name: "remote template", config: base("remote", "https://opa.test/{{ .Subject }}"), wantErr: "remote: templates are not allowed"},
		{name: "payload is required", config: map[string]any{"remote": "http://opa.test"}, wantErr: "payload: required"},
		{name: "static payload must be JSON", config: base("payload", `{"a":`), wantErr: "payload: not a JSON text"},
		{name: "header name invalid", config: base("headers", map[string]any{"X:Y": "v"}), wantErr: `headers: invalid header name "X:Y"`},
		{name: "reserved header", config: base("headers", map[string]any{"Content-Length": "1"}), wantErr: `headers["Content-Length"]: header may not be set by config`},
		{name: "forward name invalid", config: base("forward_response_headers_to_upstream", []any{""}), wantErr: "forward_response_headers_to_upstream[0]: invalid header name"},
		{name: "decision_path with whitespace", config: base("decision_path", " result.allow"), wantErr: `decision_path: invalid path`},
		{name: "decision_path with control character", config: base("decision_path", "result\n.allow"), wantErr: `decision_path: invalid path`},
		{name: "negative timeout", config: base("timeout", "-5ms"), wantErr: "timeout: must not be negative"},
		{name: "negative give_up_after", config: base("retry", map[string]any{"give_up_after": "-1s"}), wantErr: "retry.give_up_after: must not be negative"},
		{name: "negative max_delay", config: base("retry", map[string]any{"max_delay": "-1s"}), wantErr: "retry.max_delay: must not be negative"},
		{name: "max_delay above give_up_after", config: base("retry", map[string]any{"give_up_after": "10ms", "max_delay": "20ms"}), wantErr: "retry.max_delay: 20ms exceeds"},
		{name: "unknown key", config: base("decision", "allow"), wantErr: `unknown field "decision"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.config).Decode(&c)
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
			tt.check(t, c)
		})
	}
}

// TestD01RemoteURLIsNotATemplate (SECURITY_CASES D-01).
func TestD01RemoteURLIsNotATemplate(t *testing.T) {
	c := Config{Remote: "https://authz.internal/users/{{ .Subject }}/check", Payload: "{}"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "remote: templates are not allowed") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRejectsBadTemplatesAndMissingClient(t *testing.T) {
	client := outbound.New(outbound.Options{})
	tests := []struct {
		name    string
		config  Config
		wantErr string
	}{
		{"payload does not parse", Config{Remote: "http://a.test", Payload: `{"s":"{{ .Subject "}`}, "payload: parse template"},
		{"payload calls an unknown function", Config{Remote: "http://a.test", Payload: `{{ nope }}`}, "payload: parse template"},
		{"header does not parse", Config{Remote: "http://a.test", Payload: "{}", Headers: map[string]string{"X-A": "{{"}}, `headers["X-A"]: parse template`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.config, client); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := New(Config{Remote: "http://a.test", Payload: "{}"}, nil); err == nil {
		t.Error("nil client accepted")
	}
}

func TestOathkeeperReferenceConfigDecodes(t *testing.T) {
	ref := map[string]any{"remote": "https://host/path", "payload": "{}", "forward_response_headers_to_upstream": []any{"x-foo"}}
	var c Config
	if err := pipeline.MapDecoder(ref).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
