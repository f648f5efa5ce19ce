package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

func TestOathkeeperConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../../rulestore/testdata/oathkeeper/*/*.y*ml")
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
			if _, _, err := config.Load(f, nil, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReferenceConfigWarnsOncePerOathkeeperOnlyKey(t *testing.T) {
	cfg, warnings, err := config.Load("../../../rulestore/testdata/oathkeeper/reference-config/oathkeeper.reference.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, key := range []string{"serve.proxy", "serve.prometheus", "serve.api.cors", "profiling"} {
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
	cfg, _, err := config.Load("", nil, nil)
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
	cfg, _, err := config.Load("inline.yaml", yaml, env)
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

// TestConfigErrorsAreOneLineEach covers issue #10 item 12 for the
// service config: every problem at once, one line each with the file, the
// line, the full dotted key and a did-you-mean, never a Go type name.
func TestConfigErrorsAreOneLineEach(t *testing.T) {
	_, _, err := config.Load("testdata/invalid/config.yaml", nil,
		[]string{"PORTCULLIS_SERVE_METRICS_PROT=9000", "PORTCULLIS_SERVE_METRICS_PORT=x"})
	const f = "testdata/invalid/config.yaml"
	want := []string{
		f + `:4: serve.grpc.prot: unknown key (did you mean "serve.grpc.port"?)`,
		f + `:5: serve.grpc.port: must be a whole number, not a list`,
		f + `:7: serve.api.hots: unknown key (did you mean "serve.api.host"?)`,
		f + `:8: authenticatorz: unknown key (did you mean "authenticators"?)`,
		f + `:13: authenticators.jwt.enabeld: unknown key (did you mean "authenticators.jwt.enabled"?)`,
		f + `:14: authenticators.jwt.enabled: must be true or false, not "maybe"`,
		f + `:16: log.level: unknown level "loud"`,
		f + `: serve.metrics.prot: unknown key (did you mean "serve.metrics.port"?) (set by PORTCULLIS_SERVE_METRICS_PROT)`,
		f + `: serve.metrics.port: must be a whole number, not "x" (set by PORTCULLIS_SERVE_METRICS_PORT)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"bad port", "serve:\n  grpc:\n    port: 70000\n", "c.yaml:3: serve.grpc.port: 70000 is not a port"},
		{"bad level", "log:\n  level: loud\n", `c.yaml:2: log.level: unknown level "loud"`},
		{"bad yaml", "serve: [\n", "c.yaml:1: parse config: did not find expected node content"},
		{"unknown key at the root", "tracin: {}\n", `c.yaml:1: tracin: unknown key (did you mean "tracing"?)`},
		{"list where an object belongs", "serve: [1]\n", `c.yaml:1: serve: must be an object, not a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := config.Load("c.yaml", []byte(tt.yaml), nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestConfigFileMissing(t *testing.T) {
	_, _, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), nil, nil)
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

// TestCheckHandlersNamesUnknownSections: a handler section that names no
// registered handler is reported where it is, with a did-you-mean.
func TestCheckHandlersNamesUnknownSections(t *testing.T) {
	doc := "authenticators:\n  anonymus: {enabled: true}\n  noop: {enabled: true}\nerrors:\n  handlers:\n    jsno: {enabled: true}\n"
	cfg, _, err := config.Load("c.yaml", []byte(doc), []string{"PORTCULLIS_MUTATORS_NOOOP_ENABLED=true"})
	if err != nil {
		t.Fatal(err)
	}
	want := `c.yaml:2: authenticators.anonymus: unknown handler (did you mean "anonymous"?) (known: anonymous, noop)` + "\n" +
		`c.yaml:6: errors.handlers.jsno: unknown handler (did you mean "json"?) (known: json)` + "\n" +
		`c.yaml: mutators.nooop: unknown handler (did you mean "noop"?) (known: noop) (set by PORTCULLIS_MUTATORS_NOOOP_ENABLED)`
	if err := cfg.CheckHandlers(registry()); err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}
