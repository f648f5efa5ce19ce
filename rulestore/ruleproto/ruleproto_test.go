package ruleproto_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	errjson "github.com/portcullis-authz/portcullis/handlers/errors/json"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
	rulesv1 "github.com/portcullis-authz/portcullis/proto/portcullis/rules/v1"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/ruleproto"
)

// roundTrip sends s through a Rule on the wire and back.
func roundTrip(t *testing.T, s *pipeline.RuleSpec) pipeline.RuleSpec {
	t.Helper()
	r, err := ruleproto.FromSpec(s)
	if err != nil {
		t.Fatalf("%s: %v", s.Where(), err)
	}
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got rulesv1.Rule
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	return ruleproto.ToSpec(&got)
}

var equateEmpty = cmpopts.EquateEmpty()

func TestOathkeeperFixturesRoundTrip(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../testdata/oathkeeper", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.Base(p), "rules") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			specs, err := rulestore.DecodeRules(f, data)
			if err != nil {
				t.Fatal(err)
			}
			for i := range specs {
				got := roundTrip(t, &specs[i])
				if diff := cmp.Diff(specs[i], got, equateEmpty); diff != "" {
					t.Errorf("%s: round trip changed the rule (-file +after):\n%s", specs[i].Where(), diff)
				}
				rules++
			}
		})
	}
	if len(files) < 10 || rules < 16 {
		t.Fatalf("only %d files with %d rules found: the fixtures moved?", len(files), rules)
	}
}

func TestExtensionsRoundTrip(t *testing.T) {
	specs, err := rulestore.DecodeRules("ext.yaml", []byte(`
- id: every-field
  version: v0.40.6
  description: all of it
  match: {url: "https://api.test/<.*>", methods: [GET, POST], headers: {X-Tenant: acme, x-version: "v<[0-9]+>"}}
  priority: -3
  mode: shadow
  authenticators:
    - {handler: jwt, fallthrough: true, config: {jwks_urls: ["https://idp/keys"], required_scope: [a, b], nested: {n: 1.5, big: 12345678, no: null, yes: true}}}
    - {handler: anonymous}
  authorizers: [{handler: allow}, {handler: cel, config: {expression: "true"}}]
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
  errors: [{handler: redirect, config: {to: "https://login", when: [{error: [unauthorized]}]}}]
  upstream: {url: "http://backend", preserve_host: true, strip_path: /api}
- id: single-authorizer
  match: {url: "https://api.test/x", methods: []}
  authenticators: []
  authorizer: {handler: deny}
  mutators: []
`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range specs {
		if diff := cmp.Diff(specs[i], roundTrip(t, &specs[i]), equateEmpty); diff != "" {
			t.Errorf("%s: (-file +after):\n%s", specs[i].Where(), diff)
		}
	}
	if specs[0].Line != 2 || specs[1].Index != 1 || !specs[0].Authenticators[0].Fallthrough || specs[0].Priority != -3 || specs[0].Mode != "shadow" || len(specs[0].Match.Headers) != 2 {
		t.Fatalf("fixture did not decode as expected: %+v", specs)
	}
}

func TestFromSpecNamesTheHandlerOfABadConfig(t *testing.T) {
	s := pipeline.RuleSpec{ID: "r", Source: "x.yaml", Index: 2,
		Mutators: []pipeline.HandlerSpec{{Handler: "header", Config: map[string]any{"headers": "\xff"}}}}
	_, err := ruleproto.FromSpec(&s)
	if err == nil || !strings.Contains(err.Error(), `x.yaml: rules[2] (id "r"): mutators[0] (header): config: `) {
		t.Fatalf("got %v", err)
	}
}

func TestSortSpecsRestoresFileOrder(t *testing.T) {
	specs := []pipeline.RuleSpec{
		{ID: "b1", Source: "b.yaml", Index: 1}, {ID: "a1", Source: "a.yaml", Index: 1},
		{ID: "b0", Source: "b.yaml", Index: 0}, {ID: "a0", Source: "a.yaml", Index: 0},
	}
	ruleproto.SortSpecs(specs)
	var ids []string
	for _, s := range specs {
		ids = append(ids, s.ID)
	}
	if got := strings.Join(ids, ","); got != "a0,a1,b0,b1" {
		t.Fatalf("order %s", got)
	}
}

// A set received as resources gets what a decoded file gets: file order,
// and rules with equal handler lists hold one shared list, which the
// compiler turns into one set of steps (pipeline.Compile keys its chains
// by the list).
func TestPrepareSetSharesEqualHandlerLists(t *testing.T) {
	spec := func(id string, index int, tag string) pipeline.RuleSpec {
		return pipeline.RuleSpec{ID: id, Source: "rules.yaml", Index: index,
			Match:          &pipeline.MatchSpec{URL: "https://api.test/" + id, Methods: []string{"GET"}},
			Authenticators: []pipeline.HandlerSpec{{Handler: "anonymous"}},
			Authorizer:     &pipeline.HandlerSpec{Handler: "allow"},
			Mutators:       []pipeline.HandlerSpec{{Handler: "noop", Config: map[string]any{"tag": tag}}},
		}
	}
	sent := []pipeline.RuleSpec{spec("c", 2, "y"), spec("a", 0, "x"), spec("b", 1, "x")}
	specs := make([]pipeline.RuleSpec, len(sent))
	for i := range sent {
		specs[i] = roundTrip(t, &sent[i])
	}
	ruleproto.PrepareSet(specs)
	if specs[0].ID != "a" || specs[1].ID != "b" || specs[2].ID != "c" {
		t.Fatalf("not in file order: %s %s %s", specs[0].ID, specs[1].ID, specs[2].ID)
	}
	a, b, c := specs[0], specs[1], specs[2]
	if &a.Authenticators[0] != &c.Authenticators[0] || a.Authorizer != c.Authorizer || &a.Mutators[0] != &b.Mutators[0] {
		t.Error("equal handler lists were not shared")
	}
	if &a.Mutators[0] == &c.Mutators[0] {
		t.Error("different mutator configs were shared")
	}

	reg := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(reg, "anonymous", anonymous.New)
	pipeline.RegisterAuthorizer(reg, "allow", allow.New)
	type tagged struct {
		Tag string `json:"tag"`
	}
	pipeline.RegisterMutator(reg, "noop", func(tagged) (pipeline.Mutator, error) { return mutnoop.New(mutnoop.Config{}) })
	pipeline.RegisterErrorHandler(reg, "json", errjson.New)
	on := map[string]pipeline.HandlerConfig{"anonymous": {Enabled: true}, "allow": {Enabled: true}, "noop": {Enabled: true}, "json": {Enabled: true}}
	snap, err := pipeline.Compile(specs, pipeline.Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if len(snap.Rules()) != 3 {
		t.Fatalf("%d rules compiled, want 3", len(snap.Rules()))
	}
}
