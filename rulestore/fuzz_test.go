package rulestore_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authn/envoyjwt"
	"github.com/portcullis-authz/portcullis/handlers/authn/mtls"
	authnnoop "github.com/portcullis-authz/portcullis/handlers/authn/noop"
	"github.com/portcullis-authz/portcullis/handlers/authn/unauthorized"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	"github.com/portcullis-authz/portcullis/handlers/authz/cel"
	"github.com/portcullis-authz/portcullis/handlers/authz/deny"
	errjson "github.com/portcullis-authz/portcullis/handlers/errors/json"
	"github.com/portcullis-authz/portcullis/handlers/errors/redirect"
	"github.com/portcullis-authz/portcullis/handlers/errors/wwwauthenticate"
	"github.com/portcullis-authz/portcullis/handlers/mutate/cookie"
	"github.com/portcullis-authz/portcullis/handlers/mutate/envoyresp"
	"github.com/portcullis-authz/portcullis/handlers/mutate/header"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// fuzzRuleFile is the name rule files are decoded under; every error must
// name it.
const fuzzRuleFile = "fuzz.rules.yaml"

// FuzzDecodeRules feeds the rule file decoder arbitrary JSON and YAML,
// seeded with Oathkeeper's own rule files. A file decodes to rules or to
// an error naming the file, never both; decoded rules survive a JSON round
// trip unchanged; and compiling them under either matching strategy gives
// a snapshot or an error, never a panic.
func FuzzDecodeRules(f *testing.F) {
	files, err := filepath.Glob("testdata/oathkeeper/*/*rules*")
	if err != nil || len(files) == 0 {
		f.Fatalf("no rule files in testdata/oathkeeper: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[]"))
	f.Add([]byte(""))
	f.Add([]byte("- id: a\n  match: {url: \"https://api.test/<**>\", methods: [GET]}\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: cel, config: {expression: \"subject == 'x'\"}}\n  mutators: [{handler: header, config: {headers: {X-User: \"{{ print .Subject }}\"}}}]\n  errors: [{handler: redirect, config: {to: \"https://login.test/\"}}]\n"))
	reg := fuzzRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := rulestore.DecodeRules(fuzzRuleFile, data)
		if err != nil {
			if specs != nil {
				t.Fatalf("DecodeRules returned %d rules and %v", len(specs), err)
			}
			if !strings.Contains(err.Error(), fuzzRuleFile) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for i, s := range specs {
			if s.Source != fuzzRuleFile || s.Index != i {
				t.Fatalf("rule %d: Source %q, Index %d", i, s.Source, s.Index)
			}
		}
		first, err := json.Marshal(specs)
		if err != nil {
			t.Fatalf("decoded rules do not encode: %v", err)
		}
		again, err := rulestore.DecodeRules(fuzzRuleFile, first)
		if err != nil {
			t.Fatalf("decoded rules, encoded as %s, do not decode: %v", first, err)
		}
		if second, _ := json.Marshal(again); !bytes.Equal(first, second) {
			t.Fatalf("JSON round trip changed the rules:\n%s\n%s", first, second)
		}
		if len(specs) == 0 || len(specs) > 8 {
			return // compiling big sets adds time, not coverage
		}
		for _, strategy := range []string{"regexp", "glob"} {
			snap, err := pipeline.Compile(specs, fuzzPipelineConfig(strategy), reg)
			if (snap == nil) == (err == nil) {
				t.Fatalf("Compile = %v, %v: want exactly one of a snapshot and an error", snap, err)
			}
			if snap != nil {
				snap.Close()
			}
		}
	})
}

// fuzzRegistry holds every shipped handler whose constructor does no I/O:
// a fuzzed config must not make the fuzzer read files or call URLs.
func fuzzRegistry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "noop", authnnoop.New)
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthenticator(r, "unauthorized", unauthorized.New)
	pipeline.RegisterAuthenticator(r, "mtls", mtls.New)
	pipeline.RegisterAuthenticator(r, "envoy_jwt_authn", envoyjwt.New)
	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterAuthorizer(r, "deny", deny.New)
	pipeline.RegisterAuthorizer(r, "cel", cel.New)
	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterMutator(r, "header", header.New)
	pipeline.RegisterMutator(r, "cookie", cookie.New)
	pipeline.RegisterMutator(r, "envoy", envoyresp.New)
	pipeline.RegisterErrorHandler(r, "json", errjson.New)
	pipeline.RegisterErrorHandler(r, "redirect", redirect.New)
	pipeline.RegisterErrorHandler(r, "www_authenticate", wwwauthenticate.New)
	return r
}

// fuzzPipelineConfig enables every handler of fuzzRegistry with its
// defaults.
func fuzzPipelineConfig(strategy string) pipeline.Config {
	on := func(names ...string) map[string]pipeline.HandlerConfig {
		m := map[string]pipeline.HandlerConfig{}
		for _, n := range names {
			m[n] = pipeline.HandlerConfig{Enabled: true}
		}
		return m
	}
	return pipeline.Config{
		Authenticators:   on("noop", "anonymous", "unauthorized", "mtls", "envoy_jwt_authn"),
		Authorizers:      on("allow", "deny", "cel"),
		Mutators:         on("noop", "header", "cookie", "envoy"),
		ErrorHandlers:    on("json", "redirect", "www_authenticate"),
		MatchingStrategy: strategy,
	}
}
