package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

func rulesCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "Work with access rule files"}
	var configPath string
	var strict bool
	validate := &cobra.Command{
		Use:   "validate FILE|DIR...",
		Short: "Decode and compile rule files; print every error with its file, line, rule and field",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return validateRules(cmd.OutOrStdout(), cmd.ErrOrStderr(), configPath, args, strict)
		},
	}
	validate.Flags().StringVarP(&configPath, "config", "c", "",
		"service config whose handler settings the rules use (default: every handler enabled, no global config)")
	validate.Flags().BoolVar(&strict, "oathkeeper-strict", false,
		"also reject Portcullis-only rule fields (match.headers, priority, mode, authorizers, fallthrough), for files Oathkeeper must load too")
	cmd.AddCommand(validate, rulesTestCmd())
	return cmd
}

// newRegistry returns every shipped handler; close releases their shared
// dependencies.
func newRegistry() (reg *pipeline.Registry, close func()) {
	deps := builtin.NewDeps(nil)
	reg = pipeline.NewRegistry()
	builtin.Register(reg, deps)
	return reg, deps.Close
}

// validateRules reports every problem of every file in one run (issue #10
// item 12): the files are decoded one by one, and the rules that decoded
// are compiled together, so decode errors, duplicate ids, bad patterns,
// unknown or disabled handlers and bad handler configs all show, one line
// each, on stderr.
func validateRules(stdout, stderr io.Writer, configPath string, paths []string, strict bool) error {
	reg, closeDeps := newRegistry()
	defer closeDeps()
	var problems []error
	pc := enableAll(reg)
	if configPath != "" {
		cfg, _, err := config.LoadAll(configPath, nil, os.Environ())
		problems = append(problems, err)
		if cfg != nil {
			problems = append(problems, cfg.CheckHandlers(reg))
		}
		// With a broken config, go on with every handler enabled: the
		// rules' own problems are worth seeing too.
		if err == nil {
			pc = cfg.Pipeline()
		}
	}
	src, err := filesource.New(paths, nil, nil)
	if err != nil {
		return err
	}
	specs, err := src.LoadAll()
	problems = append(problems, err)
	if strict {
		for i := range specs {
			for _, f := range pipeline.PortcullisOnlyFields(&specs[i]) {
				problems = append(problems, &pipeline.FieldError{Path: specs[i].Where() + ": " + f,
					Err: errors.New("Portcullis-only field, unknown to Oathkeeper (--oathkeeper-strict)")})
			}
		}
	}
	snap, err := pipeline.Compile(specs, pc, reg)
	problems = append(problems, err)
	if err == nil && len(specs) == 0 && len(rulestore.ErrorLines(errors.Join(problems...))) == 0 {
		problems = append(problems, errors.New("the rule set is empty: no rule would match any request, and serve refuses it"))
	}
	if lines := rulestore.ErrorLines(errors.Join(problems...)); len(lines) > 0 {
		for _, l := range byFileAndLine(lines) {
			fmt.Fprintln(stderr, l)
		}
		return fmt.Errorf("rules validate: %s", count(len(lines), "error"))
	}
	for _, w := range snap.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "%s OK\n", count(len(specs), "rule"))
	return nil
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
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

// fileLine reads the "file:line: " or "file: " a message starts with.
var fileLine = regexp.MustCompile(`^(.+?)(?::(\d+))?: `)

// byFileAndLine orders messages as the files read, so that decode errors
// (found file by file) and compile errors (found rule by rule) of one file
// come together; a file's messages without a line follow its others, and
// messages naming no file come last.
func byFileAndLine(lines []string) []string {
	type key struct {
		file string
		line int
	}
	keyOf := func(s string) key {
		m := fileLine.FindStringSubmatch(s)
		if m == nil {
			return key{file: "\xff"}
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			n = math.MaxInt // whole-file problems after the located ones
		}
		return key{m[1], n}
	}
	out := slices.Clone(lines)
	slices.SortStableFunc(out, func(a, b string) int {
		ka, kb := keyOf(a), keyOf(b)
		return cmp.Or(strings.Compare(ka.file, kb.file), cmp.Compare(ka.line, kb.line))
	})
	return out
}
