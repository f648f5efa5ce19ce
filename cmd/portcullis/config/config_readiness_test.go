package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

func TestReadinessRequire(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		want    []string
		wantErr string
	}{
		{name: "default: rules alone", want: []string{}},
		{name: "key set URLs and check names",
			yaml: "serve:\n  readiness:\n    require: ['https://idp.test/jwks.json?api_key=x', key_sets, control_plane, 'file:///etc/keys.json']\n",
			want: []string{"https://idp.test/jwks.json", "key_sets", "control_plane", "file:///etc/keys.json"}},
		{name: "environment list", env: []string{"PORTCULLIS_SERVE_READINESS_REQUIRE=key_sets,https://idp.test/jwks"},
			want: []string{"key_sets", "https://idp.test/jwks"}},
		{name: "bad scheme", yaml: "serve:\n  readiness:\n    require: ['ftp://idp.test/jwks']\n",
			wantErr: `c.yaml:3: serve.readiness.require: entry 0 has scheme "ftp"`},
		{name: "not a name", yaml: "serve:\n  readiness:\n    require: [Key Sets]\n",
			wantErr: `serve.readiness.require: entry 0 ("Key Sets") is neither a key set URL nor a check name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.yaml + "\n")
			cfg, _, err := config.Load("c.yaml", data, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Serve.Readiness.RequiredKeys(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("RequiredKeys = %q, want %q", got, tt.want)
			}
		})
	}
}
