package pipeline_test

import (
	"context"
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
