package keto

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestValidateRejectsBadKeysAndAppliesDefaults(t *testing.T) {
	base := func(kv ...any) map[string]any {
		m := map[string]any{"base_url": "http://keto.test/", "required_action": "read", "required_resource": "orders"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		config  map[string]any
		wantErr string
	}{
		{"reference config", base(), ""},
		{"all keys", base("subject", "{{ .Subject }}", "flavor", "exact", "timeout", "300ms"), ""},
		{"base_url required", map[string]any{"required_action": "a", "required_resource": "r"}, "base_url: required"},
		{"base_url scheme", base("base_url", "htp://keto"), `base_url: unsupported scheme "htp"`},
		{"base_url with query", base("base_url", "http://keto.test/?a=b"), "base_url: query not allowed"},
		{"required_action required", base("required_action", ""), "required_action: required"},
		{"required_resource required", base("required_resource", " "), "required_resource: required"},
		{"unknown flavor", base("flavor", "../../admin"), `flavor: unsupported flavor "../../admin"`},
		{"negative timeout", base("timeout", "-1s"), "timeout: must not be negative"},
		{"unknown key", base("retries", map[string]any{}), `unknown field "retries"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.config).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Flavor == "" || c.Timeout <= 0 {
					t.Errorf("defaults not applied: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	var c Config
	_ = pipeline.MapDecoder(base()).Decode(&c)
	if c.Validate(); c.Flavor != DefaultFlavor || c.Timeout.Std() != DefaultTimeout {
		t.Errorf("defaults: flavor %q timeout %v", c.Flavor, c.Timeout.Std())
	}
	if c.Timeout.Std() != 150*time.Millisecond {
		t.Errorf("timeout = %v, want 150ms: it must fit the default check budget", c.Timeout.Std())
	}
}

// TestD01BaseURLIsNotATemplate (SECURITY_CASES D-01).
func TestD01BaseURLIsNotATemplate(t *testing.T) {
	c := Config{BaseURL: "http://keto.test/{{ .Subject }}", RequiredAction: "a", RequiredResource: "r"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "base_url: templates are not allowed") {
		t.Fatalf("err = %v", err)
	}
}

func TestNewRejectsBadTemplates(t *testing.T) {
	client := outbound.New(outbound.Options{})
	for key, c := range map[string]Config{
		"required_action":   {BaseURL: "http://k.test", RequiredAction: "{{", RequiredResource: "r"},
		"required_resource": {BaseURL: "http://k.test", RequiredAction: "a", RequiredResource: "{{ .X "},
		"subject":           {BaseURL: "http://k.test", RequiredAction: "a", RequiredResource: "r", Subject: "{{ nofunc }}"},
	} {
		if _, err := New(c, client); err == nil || !strings.HasPrefix(err.Error(), key+": parse template") {
			t.Errorf("%s: err = %v", key, err)
		}
	}
	if _, err := New(Config{BaseURL: "http://k.test", RequiredAction: "a", RequiredResource: "r"}, nil); err == nil {
		t.Error("nil client accepted")
	}
}
