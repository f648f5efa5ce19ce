package rulestore_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/rulestore"
)

func TestOathkeeperConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("testdata/oathkeeper/*/*.y*ml")
	var configs []string
	for _, f := range files {
		if strings.Contains(filepath.Base(f), "config") || strings.Contains(f, "reference") {
			configs = append(configs, f)
		}
	}
	if len(configs) < 10 {
		t.Fatalf("found only %d configs", len(configs))
	}
	for _, f := range configs {
		t.Run(f, func(t *testing.T) {
			if _, _, err := rulestore.LoadConfig(f, nil, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReferenceConfigWarnsOncePerOathkeeperOnlyKey(t *testing.T) {
	cfg, warnings, err := rulestore.LoadConfig("testdata/oathkeeper/reference-config/oathkeeper.reference.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, key := range []string{"serve.proxy", "serve.prometheus", "serve.api.cors", "serve.api.tls", "profiling"} {
		if strings.Count(joined, "config key "+key+" ") != 1 {
			t.Errorf("want one warning for %s in:\n%s", key, joined)
		}
	}
	if cfg.Serve.API.Port != 1235 || cfg.Serve.API.Host != "127.0.0.2" || cfg.AccessRules.MatchingStrategy != "glob" {
		t.Errorf("serve.api %+v strategy %q", cfg.Serve.API, cfg.AccessRules.MatchingStrategy)
	}
	if !cfg.Authenticators["jwt"].Enabled || cfg.Authenticators["anonymous"].Config["subject"] != "guest" {
		t.Errorf("authenticators not decoded: %+v", cfg.Authenticators)
	}
	if len(cfg.AccessRules.Repositories) != 3 {
		t.Errorf("repositories %v", cfg.AccessRules.Repositories)
	}
}

func TestDefaults(t *testing.T) {
	cfg, _, err := rulestore.LoadConfig("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Serve.GRPC.Port != 9191 || !cfg.Serve.GRPC.Reflection || cfg.Serve.API.Port != 4456 ||
		cfg.Serve.Metrics.Addr() != "127.0.0.1:9000" || cfg.AccessRules.NoMatchStatus != 404 ||
		!cfg.Errors.Handlers["json"].Enabled || strings.Join(cfg.Errors.Fallback, ",") != "json" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	yaml := []byte("access_rules:\n  repositories: file://a.yaml\nauthenticators:\n  oauth2_introspection:\n    enabled: false\n")
	env := []string{
		"PORTCULLIS_SERVE_GRPC_PORT=7000",
		"PORTCULLIS_SERVE_GRPC_HOST=127.0.0.1",
		"PORTCULLIS_ACCESS_RULES_MATCHING_STRATEGY=glob",
		"PORTCULLIS_ACCESS_RULES_NO_MATCH_STATUS=403",
		"PORTCULLIS_AUTHENTICATORS_OAUTH2_INTROSPECTION_ENABLED=true",
		"PORTCULLIS_LOG_LEVEL=debug",
		"PORTCULLIS_SERVE_GRPC_NUM_STREAM_WORKERS=8",
		"PORTCULLIS_AUTHENTICATORS_COOKIE_SESSION_ENABLED=true",
		"PORTCULLIS_AUTHENTICATORS_JWT_CONFIG_JWKS_URLS=https://idp.test/jwks.json",
		"OTHER_SERVE_GRPC_PORT=1",
	}
	cfg, _, err := rulestore.LoadConfig("inline.yaml", yaml, env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Serve.GRPC.Addr() != "127.0.0.1:7000" || cfg.AccessRules.MatchingStrategy != "glob" || cfg.AccessRules.NoMatchStatus != 403 ||
		!cfg.Authenticators["oauth2_introspection"].Enabled || cfg.Log.Level != "debug" {
		t.Errorf("overrides not applied: grpc %s strategy %q status %d introspection %+v level %q",
			cfg.Serve.GRPC.Addr(), cfg.AccessRules.MatchingStrategy, cfg.AccessRules.NoMatchStatus, cfg.Authenticators["oauth2_introspection"], cfg.Log.Level)
	}
	if cfg.Serve.GRPC.NumStreamWorkers != 8 || !cfg.Authenticators["cookie_session"].Enabled ||
		cfg.Authenticators["jwt"].Config["jwks_urls"] != "https://idp.test/jwks.json" {
		t.Errorf("env: workers %d cookie_session %+v jwt %+v", cfg.Serve.GRPC.NumStreamWorkers, cfg.Authenticators["cookie_session"], cfg.Authenticators["jwt"])
	}
	if _, ok := cfg.Authenticators["bearer_token"]; ok {
		t.Error("handlers the config does not mention must not appear")
	}
	if strings.Join(cfg.AccessRules.Repositories, ",") != "file://a.yaml" {
		t.Errorf("single-string repositories: %v", cfg.AccessRules.Repositories)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "serve:\n  grpc:\n    prot: 1\n", "prot"},
		{"unknown section", "authenticatorz: {}\n", "authenticatorz"},
		{"bad port", "serve:\n  grpc:\n    port: 70000\n", "serve.grpc.port: 70000 is not a port"},
		{"bad type", "serve:\n  grpc:\n    port: [1]\n", "port"},
		{"bad level", "log:\n  level: loud\n", `log.level: unknown level "loud"`},
		{"bad yaml", "serve: [\n", "parse config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := rulestore.LoadConfig("c.yaml", []byte(tt.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "c.yaml") {
				t.Fatalf("err = %v, want it to start with the file and contain %q", err, tt.want)
			}
		})
	}
}

func TestConfigFileMissing(t *testing.T) {
	_, _, err := rulestore.LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), nil, nil)
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("err = %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
