package config_test

import (
	"reflect"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

func TestShadowRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want []string
	}{
		{name: "default: none", want: []string{}},
		{name: "file", yaml: "access_rules:\n  shadow_rules: [orders-v2, admin]\n", want: []string{"orders-v2", "admin"}},
		{name: "environment list", env: []string{"PORTCULLIS_ACCESS_RULES_SHADOW_RULES=a,b"}, want: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Load("c.yaml", []byte(tt.yaml+"\n"), tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Pipeline().ShadowRules; !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ShadowRules = %#v, want %#v", got, tt.want)
			}
		})
	}
}
