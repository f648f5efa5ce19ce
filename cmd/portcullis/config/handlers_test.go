package config_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authn/noop"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// registry is a small registry, so that "known:" lists stay short.
func registry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthenticator(r, "noop", noop.New)
	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterErrorHandler(r, "json", func(struct{}) (pipeline.ErrorHandler, error) {
		return pipeline.ErrorHandlerFunc(func(_ context.Context, _ *pipeline.Request, err error) (pipeline.Denial, error) {
			return pipeline.Denial{Status: pipeline.StatusOf(err)}, nil
		}), nil
	})
	return r
}

// TestEnvOverridesKnowEveryShippedHandler ties the config to the one
// registry of shipped handlers: every handler serve registers can be
// enabled from the environment alone, including the names with
// underscores the override has to resolve, and the config accepts it.
func TestEnvOverridesKnowEveryShippedHandler(t *testing.T) {
	reg := pipeline.NewRegistry()
	deps := builtin.NewDeps(nil)
	defer deps.Close()
	builtin.Register(reg, deps)
	sections := []struct {
		env  string
		kind pipeline.Kind
		got  func(*config.Config) map[string]pipeline.HandlerConfig
	}{
		{"AUTHENTICATORS", pipeline.KindAuthenticator, func(c *config.Config) map[string]pipeline.HandlerConfig { return c.Authenticators }},
		{"AUTHORIZERS", pipeline.KindAuthorizer, func(c *config.Config) map[string]pipeline.HandlerConfig { return c.Authorizers }},
		{"MUTATORS", pipeline.KindMutator, func(c *config.Config) map[string]pipeline.HandlerConfig { return c.Mutators }},
		{"ERRORS_HANDLERS", pipeline.KindErrorHandler, func(c *config.Config) map[string]pipeline.HandlerConfig { return c.Errors.Handlers }},
	}
	for _, s := range sections {
		names := reg.Names(s.kind)
		if !slices.Equal(names, builtin.Names(s.kind)) {
			t.Fatalf("%s: builtin.Names %v, registered %v", s.kind, builtin.Names(s.kind), names)
		}
		for _, name := range names {
			t.Run(fmt.Sprintf("%s/%s", s.kind, name), func(t *testing.T) {
				env := config.EnvPrefix + s.env + "_" + strings.ToUpper(name) + "_ENABLED=true"
				cfg, _, err := config.Load("", nil, []string{env})
				if err != nil {
					t.Fatal(err)
				}
				if !s.got(cfg)[name].Enabled {
					t.Fatalf("%s did not enable %s", env, name)
				}
				if err := cfg.CheckHandlers(reg); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
