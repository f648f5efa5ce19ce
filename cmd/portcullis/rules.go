package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

func rulesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Work with access rule files"}
	var configPath string
	validate := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Decode and compile rule files; print every error with its file, rule and field",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return validateRules(cmd.OutOrStdout(), cmd.ErrOrStderr(), configPath, args)
		},
	}
	validate.Flags().StringVarP(&configPath, "config", "c", "",
		"service config whose handler settings the rules use (default: every handler enabled, no global config)")
	cmd.AddCommand(validate)
	return cmd
}

func validateRules(stdout, stderr io.Writer, configPath string, paths []string) error {
	deps := builtin.NewDeps(nil)
	defer deps.Close()
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	var pc pipeline.Config
	if configPath != "" {
		cfg, _, err := rulestore.LoadConfig(configPath, nil, nil)
		if err != nil {
			return err
		}
		pc = cfg.Pipeline()
	} else {
		pc = enableAll(reg)
	}
	src, err := rulestore.NewFileSource(paths, nil, nil)
	if err != nil {
		return err
	}
	specs, _, err := src.Load()
	var snap *pipeline.Snapshot
	if err == nil {
		snap, err = pipeline.Compile(specs, pc, reg)
	}
	if err != nil {
		errs := flatten(err)
		for _, e := range errs {
			fmt.Fprintln(stderr, e)
		}
		return fmt.Errorf("%d invalid", len(errs))
	}
	for _, w := range snap.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "%d rules OK\n", len(specs))
	return nil
}

// enableAll enables every registered handler with no global config, so
// validation without a service config checks the rules alone.
func enableAll(reg *pipeline.Registry) pipeline.Config {
	all := func(k pipeline.Kind) map[string]pipeline.HandlerConfig {
		m := map[string]pipeline.HandlerConfig{}
		for _, n := range reg.Names(k) {
			m[n] = pipeline.HandlerConfig{Enabled: true}
		}
		return m
	}
	return pipeline.Config{
		Authenticators: all(pipeline.KindAuthenticator),
		Authorizers:    all(pipeline.KindAuthorizer),
		Mutators:       all(pipeline.KindMutator),
		ErrorHandlers:  all(pipeline.KindErrorHandler),
	}
}

// flatten lists the leaves of a joined error.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
