// Command portcullis is the Portcullis access decision service for Envoy:
// `portcullis serve` runs the ext_authz gRPC server, `portcullis rules
// validate` checks rule files, `portcullis config validate` checks the
// service config, `portcullis version` prints the build, `portcullis
// health` probes a running server, `portcullis credentials generate`
// makes id_token signing keys and `portcullis control-plane` serves rule
// files to every instance over xDS.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/portcullis-authz/portcullis/rulestore"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the process exit code: 0, or
// 1 after printing every error on its own line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := rootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		for _, line := range rulestore.ErrorLines(err) {
			fmt.Fprintln(stderr, "portcullis:", line)
		}
		return 1
	}
	return 0
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "portcullis",
		Short:         "Identity and access decisions for Envoy (ext_authz), with Oathkeeper-format rules",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serveCmd(), rulesCmd(), configCmd(), versionCmd(), healthCmd(), credentialsCmd(), controlPlaneCmd(), explainCmd())
	return root
}
