package config_test

import (
	"slices"
	"testing"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

func TestForwardedConfig(t *testing.T) {
	allHeaders := []string{"X-Forwarded-Method", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Uri", "X-Original-Method", "X-Original-Uri", "Forwarded"}
	tests := []struct {
		name                     string
		yaml                     string
		env                      []string
		wantProxies, wantHeaders []string
	}{
		{name: "defaults: loopback, every header",
			wantProxies: []string{"127.0.0.0/8", "::1/128"}, wantHeaders: allHeaders},
		{name: "defaults are the decision API's own",
			wantProxies: authz.DefaultTrustedProxies(), wantHeaders: authz.DefaultForwardedHeaders()},
		{name: "file replaces the lists",
			yaml:        "serve:\n  api:\n    forwarded:\n      trusted_proxies: [10.0.0.0/8]\n      headers: [X-Original-Uri]\n",
			wantProxies: []string{"10.0.0.0/8"}, wantHeaders: []string{"X-Original-Uri"}},
		{name: "empty lists stay empty",
			yaml:        "serve:\n  api:\n    forwarded: {trusted_proxies: [], headers: []}\n",
			wantProxies: []string{}, wantHeaders: []string{}},
		{name: "environment, comma-separated",
			env:         []string{"PORTCULLIS_SERVE_API_FORWARDED_TRUSTED_PROXIES=10.0.0.0/8,::1/128", "PORTCULLIS_SERVE_API_FORWARDED_HEADERS=X-Forwarded-Uri"},
			wantProxies: []string{"10.0.0.0/8", "::1/128"}, wantHeaders: []string{"X-Forwarded-Uri"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, data := "", []byte(nil) // no file: defaults and environment
			if tt.yaml != "" {
				path, data = "test.yaml", []byte(tt.yaml)
			}
			cfg, _, err := config.Load(path, data, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			f := cfg.Serve.API.Forwarded
			if !slices.Equal(f.TrustedProxies, tt.wantProxies) || !slices.Equal(f.Headers, tt.wantHeaders) {
				t.Errorf("serve.api.forwarded = %+v, want trusted_proxies %v headers %v", f, tt.wantProxies, tt.wantHeaders)
			}
		})
	}
}
