package pipeline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// countingRegistry registers an authenticator "tagged" whose builds are
// counted; the subject it sets is its config's tag.
func countingRegistry(builds *int) *pipeline.Registry {
	reg := registry()
	type cfg struct {
		Tag string `json:"tag"`
	}
	pipeline.RegisterAuthenticator(reg, "tagged", func(c cfg) (pipeline.Authenticator, error) {
		*builds++
		return pipeline.AuthenticatorFunc(func(_ context.Context, _ *pipeline.Request, s *pipeline.Session) error {
			s.Subject = c.Tag
			return nil
		}), nil
	})
	return reg
}

func taggedRule(id, path string, config map[string]any) pipeline.RuleSpec {
	r := rule(id, "https://api.test"+path, []pipeline.HandlerSpec{{Handler: "tagged", Config: config}})
	return r
}

// Rules whose merged handler configs are equal share one instance, built
// once, whether or not ShareHandlers ran; a rule with a different config
// gets its own, and each rule behaves by its own config.
func TestIdenticalHandlerConfigsShareOneInstance(t *testing.T) {
	for _, share := range []bool{false, true} {
		builds := 0
		reg := countingRegistry(&builds)
		conf := config()
		conf.Authenticators["tagged"] = pipeline.HandlerConfig{Enabled: true, Config: map[string]any{"tag": "global"}}
		specs := []pipeline.RuleSpec{
			taggedRule("a", "/a", map[string]any{"tag": "x"}),
			taggedRule("b", "/b", map[string]any{"tag": "x"}), // equal, another map
			taggedRule("c", "/c", map[string]any{"tag": "y"}),
			taggedRule("d", "/d", nil), // the global config
			taggedRule("e", "/e", map[string]any{"tag": "global"}),
		}
		if share {
			pipeline.ShareHandlers(specs)
		}
		s, err := pipeline.Compile(specs, conf, reg)
		if err != nil {
			t.Fatal(err)
		}
		// x, y and global ("d" and "e" merge to the same config).
		if builds != 3 {
			t.Errorf("share=%v: %d instances built for 3 distinct configs", share, builds)
		}
		for path, want := range map[string]string{"/a": "x", "/b": "x", "/c": "y", "/d": "global", "/e": "global"} {
			d, _ := run(t, s, get(path))
			if !d.Allowed || d.Subject != want {
				t.Errorf("share=%v: %s: allowed=%v subject %q, want %q", share, path, d.Allowed, d.Subject, want)
			}
		}
	}
}

// ShareHandlers gives rules with equal handler lists (in JSON form) one
// list, and leaves different ones apart.
func TestShareHandlersSharesEqualLists(t *testing.T) {
	specs := []pipeline.RuleSpec{
		taggedRule("a", "/a", map[string]any{"tag": "x", "n": 1.0}),
		taggedRule("b", "/b", map[string]any{"n": 1.0, "tag": "x"}),
		taggedRule("c", "/c", map[string]any{"tag": "y"}),
	}
	specs[2].Authenticators[0].Fallthrough = true
	pipeline.ShareHandlers(specs)
	same := func(a, b []pipeline.HandlerSpec) bool { return &a[0] == &b[0] }
	if !same(specs[0].Authenticators, specs[1].Authenticators) || !same(specs[0].Mutators, specs[2].Mutators) {
		t.Error("equal handler lists were not shared")
	}
	if specs[0].Authorizer != specs[1].Authorizer || specs[0].Authorizer != specs[2].Authorizer {
		t.Error("equal authorizers were not shared")
	}
	if same(specs[0].Authenticators, specs[2].Authenticators) {
		t.Error("different handler lists were shared")
	}
	if specs[2].Authenticators[0].Config["tag"] != "y" || !specs[2].Authenticators[0].Fallthrough {
		t.Errorf("rule c's own list changed: %+v", specs[2].Authenticators)
	}
}

// A broken handler list shared by several rules is reported for each of
// them, and the rule set is refused.
func TestSharedBrokenListNamesEveryRule(t *testing.T) {
	specs := []pipeline.RuleSpec{
		rule("a", "https://api.test/a", []pipeline.HandlerSpec{h("a", "invalid")}),
		rule("b", "https://api.test/b", []pipeline.HandlerSpec{h("a", "invalid")}),
	}
	specs[0].Index, specs[1].Index = 0, 1
	pipeline.ShareHandlers(specs)
	_, err := pipeline.Compile(specs, config(), registry())
	if err == nil {
		t.Fatal("a rule set with an invalid handler config compiled")
	}
	for _, want := range []string{`rules[0] (id "a"): authenticators[0] (fake): config: outcome: invalid`, `rules[1] (id "b"): authenticators[0] (fake): config: outcome: invalid`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}
