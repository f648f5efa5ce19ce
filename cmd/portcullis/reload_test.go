package main

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// TestChangedKeysNamesWhatNeedsARestart: SIGHUP applies log.level and
// serve.readiness and names every other changed key.
func TestChangedKeysNamesWhatNeedsARestart(t *testing.T) {
	// conf renders a config with some values replaced.
	conf := func(repl map[string]string) string {
		v := map[string]string{"port": "9191", "repo": "file://rules.yaml", "jwks": "https://idp.test/jwks", "extra": "",
			"level": "info", "format": "json", "require": "[]"}
		for k, r := range repl {
			v[k] = r
		}
		return fmt.Sprintf(`
serve: {grpc: {port: %s}, readiness: {require: %s}}
access_rules: {repositories: [%s]}
authenticators: {anonymous: {enabled: true}, jwt: {enabled: true, config: {jwks_urls: [%s]}}%s}
log: {level: %s, format: %s}
`, v["port"], v["require"], v["repo"], v["jwks"], v["extra"], v["level"], v["format"])
	}
	tests := []struct {
		name string
		repl map[string]string
		want []string
	}{
		{name: "identical"},
		{name: "run-time keys only", repl: map[string]string{"require": "[key_sets]", "level": "debug"}},
		{name: "listener port", repl: map[string]string{"port": "9292"}, want: []string{"serve.grpc.port"}},
		{name: "handler config and a new handler", repl: map[string]string{"jwks": "https://idp2.test/jwks", "extra": ", noop: {enabled: true}"},
			want: []string{"authenticators.jwt", "authenticators.noop"}},
		{name: "repositories and log format", repl: map[string]string{"repo": "file://other.yaml", "format": "text"},
			want: []string{"access_rules.repositories", "log.format"}},
	}
	load := func(yaml string) *config.Config {
		t.Helper()
		c, _, err := config.Load("c.yaml", []byte(yaml), nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	running := load(conf(nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changedKeys(running, load(conf(tt.repl))); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("changedKeys = %q, want %q", got, tt.want)
			}
		})
	}
}
