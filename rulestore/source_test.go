package rulestore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authn/noop"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	"github.com/portcullis-authz/portcullis/handlers/authz/deny"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDecodeOathkeeperRuleFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/oathkeeper/*/*rules*")
	if len(files) < 8 {
		t.Fatalf("found only %d rule files", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			specs, err := rulestore.DecodeRules(f, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(specs) == 0 {
				t.Fatal("no rules decoded")
			}
			for i, s := range specs {
				if s.ID == "" || s.Source != f || s.Index != i {
					t.Errorf("rule %d: id %q source %q index %d", i, s.ID, s.Source, s.Index)
				}
			}
		})
	}
}

func TestDecodeErrorsNameFileLineRuleAndField(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown keys everywhere, with a did-you-mean", "- id: a\n  mach: {}\n  match:\n    url: x\n    method: [GET]\n",
			`r.json:2: rules[0] (id "a"): unknown field "mach" (did you mean "match"?)` + "\n" +
				`r.json:5: rules[0] (id "a"): match: unknown field "method" (did you mean "methods"?)`},
		{"every rule is reported", `[{"id":"a","authorizers":"nil","match":{"url":"x","methods":["GET"]}},{"id":"b","mach":{}}]`,
			`r.json:1: rules[0] (id "a"): authorizers: must be a list, not a string` + "\n" +
				`r.json:1: rules[1] (id "b"): unknown field "mach" (did you mean "match"?)`},
		{"wrong type", "- id: a\n  match:\n    url: 1\n    methods: GET\n", `r.json:4: rules[0] (id "a"): match.methods: must be a list, not a string`},
		{"not a list", `{"id":"a"}`, "r.json: rules must be a JSON or YAML list of rules, not an object"},
		{"rule not an object", "- 1\n", "r.json:1: rules[0]: a rule must be an object, not a number"},
		{"bad yaml", "- id: [\n", "r.json:1: parse rules: did not find expected node content"},
		{"empty file", "\n# nothing\n", "r.json: file is empty (write [] for a file without rules)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rulestore.DecodeRules("r.json", []byte(tt.doc))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
	if specs, err := rulestore.DecodeRules("none.yaml", []byte("[]")); err != nil || len(specs) != 0 {
		t.Fatalf("explicit empty list: %v %v", specs, err)
	}
}

// TestRuleVersionIsValidatedAsOathkeeperDoes covers issue #10 item 6:
// Oathkeeper strips one leading "v", skips "master" and fails the decode
// of a rule whose version is not a semantic version. The whole set is
// refused, naming the rule (Oathkeeper drops only that rule).
func TestRuleVersionIsValidatedAsOathkeeperDoes(t *testing.T) {
	tests := []struct {
		version string
		valid   bool
	}{
		{"", true},
		{"v0.40.6", true},
		{"0.40.6", true},
		{"v0.38.0-beta.2", true},
		{"v26.2.0", true},
		{"v1.0.0+build.7", true},
		{"v1.0.0-rc.1+sha.5114f85", true},
		{"master", true},
		{"vmaster", true},
		{"v0.40.x", false},
		{"v0.40", false},
		{"42", false},
		{"vv1.0.0", false},
		{"V1.0.0", false},
		{"v01.0.0", false},
		{"v1.0.0-01", false},
		{"v1.0.0-", false},
		{"v1.0.0+", false},
		{"latest", false},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			doc := "- id: good\n  version: ''\n- id: r\n  version: '" + tt.version + "'\n"
			specs, err := rulestore.DecodeRules("rules.yaml", []byte(doc))
			if tt.valid {
				if err != nil || len(specs) != 2 || specs[1].Version != tt.version {
					t.Fatalf("specs %v err %v", specs, err)
				}
				return
			}
			want := `rules.yaml:4: rules[1] (id "r"): version: "` + tt.version + `" is not a semantic version such as v0.40.6`
			if err == nil || err.Error() != want || specs != nil {
				t.Fatalf("err = %v, want %s (and no rules)", err, want)
			}
		})
	}
}

func registry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthenticator(r, "noop", noop.New)
	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterAuthorizer(r, "deny", deny.New)
	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterErrorHandler(r, "json", func(struct{}) (pipeline.ErrorHandler, error) {
		return pipeline.ErrorHandlerFunc(func(_ context.Context, _ *pipeline.Request, err error) (pipeline.Denial, error) {
			return pipeline.Denial{Status: pipeline.StatusOf(err)}, nil
		}), nil
	})
	return r
}

func pipelineConfig() pipeline.Config {
	on := map[string]pipeline.HandlerConfig{"anonymous": {Enabled: true}, "noop": {Enabled: true}, "allow": {Enabled: true}, "deny": {Enabled: true}, "json": {Enabled: true}}
	return pipeline.Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}
}

func ruleDoc(authorizer string) string {
	return `[{"id":"r1","match":{"url":"http://h/<.*>","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"` +
		authorizer + `"},"mutators":[{"handler":"noop"}]}]`
}

func decide(t *testing.T, s *rulestore.Store) int {
	t.Helper()
	d := s.Current().Execute(context.Background(), &pipeline.Request{Method: "GET", Scheme: "http", Host: "h", RawPath: "/x", Header: pipeline.Header{}})
	if d.Allowed {
		return 200
	}
	return d.Denial.Status
}

func TestStoreKeepsLastGoodSnapshot(t *testing.T) {
	s := rulestore.NewStore(pipelineConfig(), registry(), nil)
	if s.Current() != nil {
		t.Fatal("snapshot before first apply")
	}
	good, _ := rulestore.DecodeRules("good.json", []byte(ruleDoc("allow")))
	if err := s.Apply(good, "v1"); err != nil {
		t.Fatal(err)
	}
	bad, _ := rulestore.DecodeRules("bad.json", []byte(ruleDoc("nosuch")))
	err := s.Apply(bad, "v2")
	if err == nil || !strings.Contains(err.Error(), `bad.json:1: rules[0] (id "r1"): authorizer (nosuch): unknown handler`) {
		t.Fatalf("err = %v", err)
	}
	st := s.Status()
	if decide(t, s) != 200 || s.Current().Version != "v1" || st.Failures != 1 || st.Reloads != 1 || st.LastError == "" {
		t.Fatalf("status %+v", st)
	}
}
