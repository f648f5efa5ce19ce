package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

func configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the service config"}
	var configPath string
	validate := &cobra.Command{
		Use:   "validate --config FILE",
		Short: "Check the service config; print every error with its file, line and full key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return validateConfig(cmd.OutOrStdout(), cmd.ErrOrStderr(), configPath)
		},
	}
	validate.Flags().StringVarP(&configPath, "config", "c", "", "config file (YAML or JSON)")
	_ = validate.MarkFlagRequired("config")
	cmd.AddCommand(validate)
	return cmd
}

// validateConfig runs the checks serve runs on its config before it
// starts: decoding (every unknown key and bad value), the handler section
// names, the rule repository URLs, and the parts of the config the rule
// compiler reads on its own (errors.fallback,
// access_rules.matching_strategy and no_match_status), and the listeners'
// certificate files.
// The environment applies, as it would for serve.
func validateConfig(stdout, stderr io.Writer, path string) error {
	cfg, warnings, err := config.LoadAll(path, nil, os.Environ())
	problems := []error{err}
	if cfg != nil {
		problems = append(problems, prefix(path, checkRepositories(cfg.AccessRules.Repositories)))
		reg, closeDeps := newRegistry()
		defer closeDeps()
		problems = append(problems, cfg.CheckHandlers(reg))
		_, err = pipeline.Compile(nil, cfg.Pipeline(), reg)
		problems = append(problems, prefix(path, err))
		if problems[0] == nil { // a block that did not decode has its error already
			_, err = listenersTLS(cfg.Serve, nil) // reads the certificate files
			problems = append(problems, prefix(path, err))
		}
	}
	if lines := rulestore.ErrorLines(errors.Join(problems...)); len(lines) > 0 {
		for _, l := range byFileAndLine(lines) {
			fmt.Fprintln(stderr, l)
		}
		return fmt.Errorf("config validate: %s", count(len(lines), "error"))
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintln(stdout, "config OK")
	return nil
}

// prefix puts the file name before each of err's lines.
func prefix(file string, err error) error {
	var out []error
	for _, l := range rulestore.ErrorLines(err) {
		out = append(out, fmt.Errorf("%s: %s", file, l))
	}
	return errors.Join(out...)
}
