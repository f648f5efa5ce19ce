package pipeline_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// warningMutator loads but warns, like a header mutator asked to set Host.
type warningMutator struct{ warnings []string }

func (warningMutator) Mutate(context.Context, *pipeline.Request, *pipeline.Session) error { return nil }
func (m warningMutator) Warnings() []string                                               { return m.warnings }

// A handler's warnings reach Snapshot.Warnings once per rule that uses it,
// each prefixed with the rule and the handler, even when rules share one
// instance (identical merged configs).
func TestHandlerWarningsNameEachRule(t *testing.T) {
	reg := registry()
	type cfg struct {
		Warn []string `json:"warn"`
	}
	pipeline.RegisterMutator(reg, "warner", func(c cfg) (pipeline.Mutator, error) { return warningMutator{c.Warn}, nil })
	conf := config()
	conf.Mutators["warner"] = pipeline.HandlerConfig{Enabled: true, Config: map[string]any{"warn": []any{"headers.Host is not sent"}}}
	withWarner := func(i int, id, url string) pipeline.RuleSpec {
		r := rule(id, url, []pipeline.HandlerSpec{h("a", "")})
		r.Index = i
		r.Mutators = []pipeline.HandlerSpec{{Handler: "fake"}, {Handler: "warner"}}
		return r
	}
	s, err := pipeline.Compile([]pipeline.RuleSpec{
		withWarner(0, "r1", "https://api.test/a"),
		withWarner(1, "r2", "https://api.test/b"),
		rule("quiet", "https://api.test/c", []pipeline.HandlerSpec{h("a", "")}),
	}, conf, reg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`rules.yaml: rules[0] (id "r1"): mutators[1] (warner): headers.Host is not sent`,
		`rules.yaml: rules[1] (id "r2"): mutators[1] (warner): headers.Host is not sent`,
	}
	if !slices.Equal(s.Warnings, want) {
		t.Fatalf("warnings:\n%q\nwant\n%q", s.Warnings, want)
	}
}

// With RecompileOptions.MaxWarnings, Snapshot.Warnings holds the first
// warnings as Compile writes them, and the rest are counted by rule
// field, handler warnings by field and handler.
func TestRecompileCountsWarningsPastTheMax(t *testing.T) {
	reg := registry()
	type cfg struct {
		Warn []string `json:"warn"`
	}
	pipeline.RegisterMutator(reg, "warner", func(c cfg) (pipeline.Mutator, error) { return warningMutator{c.Warn}, nil })
	conf := config()
	conf.Mutators["warner"] = pipeline.HandlerConfig{Enabled: true, Config: map[string]any{"warn": []any{"headers.Host is not sent"}}}
	specs := []pipeline.RuleSpec{
		rule("gap", "https://api.test/a/<.*>", []pipeline.HandlerSpec{h("a", "")}),
		rule("methods", "https://api.test/b", []pipeline.HandlerSpec{h("a", "")}),
		rule("scheme", "api.test/c", []pipeline.HandlerSpec{h("a", "")}),
		rule("upstream", "https://api.test/d", []pipeline.HandlerSpec{h("a", "")}),
		rule("warner", "https://api.test/e", []pipeline.HandlerSpec{h("a", "")}),
	}
	specs[1].Match.Methods = []string{}
	specs[3].Upstream = &pipeline.UpstreamSpec{URL: "http://backend"}
	specs[4].Mutators = []pipeline.HandlerSpec{{Handler: "warner"}}
	all, err := pipeline.Compile(specs, conf, reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Warnings) != 5 || all.MoreWarnings != nil {
		t.Fatalf("Compile: warnings %q, more %v", all.Warnings, all.MoreWarnings)
	}
	some, err := pipeline.Recompile(nil, specs, conf, reg, pipeline.RecompileOptions{MaxWarnings: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(some.Warnings, all.Warnings[:1]) {
		t.Errorf("warnings %q, want %q", some.Warnings, all.Warnings[:1])
	}
	want := map[string]int{"match.methods": 1, "match.url": 1, "upstream": 1, "mutators (warner)": 1}
	if !maps.Equal(some.MoreWarnings, want) {
		t.Errorf("more warnings %v, want %v", some.MoreWarnings, want)
	}
}
