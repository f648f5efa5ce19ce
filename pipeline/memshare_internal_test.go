package pipeline

import (
	"context"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

func reuseRegistry() (*Registry, Config) {
	reg := NewRegistry()
	RegisterAuthenticator(reg, "anonymous", func(struct{}) (Authenticator, error) {
		return AuthenticatorFunc(func(context.Context, *Request, *Session) error { return nil }), nil
	})
	RegisterAuthorizer(reg, "allow", func(struct{}) (Authorizer, error) {
		return AuthorizerFunc(func(context.Context, *Request, *Session) error { return nil }), nil
	})
	RegisterMutator(reg, "noop", func(struct{}) (Mutator, error) {
		return MutatorFunc(func(context.Context, *Request, *Session) error { return nil }), nil
	})
	RegisterErrorHandler(reg, "json", func(struct{}) (ErrorHandler, error) {
		return ErrorHandlerFunc(func(context.Context, *Request, error) (Denial, error) { return Denial{Status: 403}, nil }), nil
	})
	on := map[string]HandlerConfig{"anonymous": {Enabled: true}, "allow": {Enabled: true}, "noop": {Enabled: true}, "json": {Enabled: true}}
	return reg, Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}
}

func reuseSpec(id, url string) RuleSpec {
	return RuleSpec{ID: id, Source: "rules.yaml", Match: &MatchSpec{URL: url, Methods: []string{"GET"}},
		Authenticators: []HandlerSpec{{Handler: "anonymous"}}, Authorizer: &HandlerSpec{Handler: "allow"},
		Mutators: []HandlerSpec{{Handler: "noop"}}}
}

// A recompile lends the previous snapshot's compiled pattern to a rule
// whose id and match.url are unchanged, and compiles the others afresh;
// a different matching strategy compiles everything again. The trailing
// slash warning of a reused pattern is still given.
func TestRecompileReusesUnchangedPatterns(t *testing.T) {
	reg, cfg := reuseRegistry()
	first := []RuleSpec{
		reuseSpec("same", "https://api.test/same/<.*>"),
		reuseSpec("changed", "https://api.test/old"),
		reuseSpec("renamed", "https://api.test/renamed"),
	}
	prev, err := Compile(first, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	second := []RuleSpec{
		reuseSpec("same", "https://api.test/same/<.*>"),
		reuseSpec("changed", "https://api.test/new"),
		reuseSpec("new-name", "https://api.test/renamed"),
	}
	next, err := Recompile(prev, second, cfg, reg, RecompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		prevID, id string
		shared     bool
	}{
		{"same", "same", true},
		{"changed", "changed", false},
		{"renamed", "new-name", false}, // matched by id, not by URL
	} {
		if got := prev.Rule(tt.prevID).pattern == next.Rule(tt.id).pattern; got != tt.shared {
			t.Errorf("rule %s: pattern shared with the previous snapshot = %v, want %v", tt.id, got, tt.shared)
		}
	}
	if next.Rule("changed").pattern.String() != "https://api.test/new" {
		t.Errorf("changed rule compiled %q", next.Rule("changed").pattern.String())
	}
	if !hasWarning(next.Warnings, `(id "same"): match.url https://api.test/same/<.*> does not match https://api.test/same`) {
		t.Errorf("no trailing slash warning for the reused pattern: %q", next.Warnings)
	}
	if d := next.Execute(context.Background(), &Request{Method: "GET", Scheme: "https", Host: "api.test", RawPath: "/new", Header: Header{}}); !d.Allowed {
		t.Errorf("the changed rule's new URL is not matched: %+v", d)
	}

	cfg.MatchingStrategy = string(match.Glob)
	glob, err := Recompile(next, second, cfg, reg, RecompileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if glob.Rule("same").pattern == next.Rule("same").pattern {
		t.Error("a pattern compiled for regexp was reused under glob")
	}
}

func hasWarning(warnings []string, part string) bool {
	for _, w := range warnings {
		if strings.Contains(w, part) {
			return true
		}
	}
	return false
}

// Rules whose handler lists are one shared slice share their compiled
// steps; rules with their own (even equal) lists get their own steps over
// the shared instances.
func TestSharedHandlerListsShareSteps(t *testing.T) {
	reg, cfg := reuseRegistry()
	specs := []RuleSpec{reuseSpec("a", "https://api.test/a"), reuseSpec("b", "https://api.test/b"), reuseSpec("c", "https://api.test/c")}
	specs[1].Authenticators, specs[1].Authorizer, specs[1].Mutators = specs[0].Authenticators, specs[0].Authorizer, specs[0].Mutators
	s, err := Compile(specs, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := s.Rule("a"), s.Rule("b"), s.Rule("c")
	if &a.authenticators[0] != &b.authenticators[0] || &a.authorizers[0] != &b.authorizers[0] || &a.mutators[0] != &b.mutators[0] {
		t.Error("rules with one shared handler list got separate steps")
	}
	if &a.authenticators[0] == &c.authenticators[0] {
		t.Error("a rule with its own list got another rule's steps")
	}
	if a.authenticators[0].h == nil || c.authenticators[0].name != "anonymous" {
		t.Errorf("steps: %+v %+v", a.authenticators, c.authenticators)
	}
	if cap(a.authenticators) != len(a.authenticators) {
		t.Error("a shared step list has spare capacity: an append would write into another rule's list")
	}
}
