package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Set by the release build (Taskfile.yml's release task, the Dockerfile):
//
//	-ldflags "-X main.version=v1.2.3 -X main.revision=<commit>"
//
// A plain `go build` leaves them unset and the VCS stamp Go embeds in the
// binary supplies the revision instead.
var (
	version  = "dev"
	revision = ""
)

// buildInfo describes this binary: what `portcullis version` prints and
// what the portcullis_build_info metric carries.
type buildInfo struct {
	// Version is the release (-X main.version), the module version of a
	// `go install ...@vX.Y.Z`, or "dev".
	Version string `json:"version"`
	// Revision is the commit (-X main.revision, else vcs.revision), or
	// "unknown" for a build without either.
	Revision string `json:"revision"`
	// Modified reports uncommitted changes in the tree the binary was
	// built from (VCS-stamped builds only).
	Modified bool `json:"modified"`
	// CommitTime is the commit's time from the VCS stamp (RFC 3339), if
	// any.
	CommitTime string `json:"commit_time,omitempty"`
	GoVersion  string `json:"go_version"`
	Platform   string `json:"platform"`
}

// currentBuild reads this binary's build information.
func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return resolveBuild(bi, version, revision)
}

// resolveBuild prefers the values set with -ldflags (a release build knows
// its tag; a container build has no .git to stamp from), then the build
// information Go embeds: the module version and the VCS settings
// (vcs.revision, vcs.modified, vcs.time) of a build inside a checkout.
func resolveBuild(bi *debug.BuildInfo, ldVersion, ldRevision string) buildInfo {
	out := buildInfo{Version: ldVersion, Revision: ldRevision, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if out.Version == "" {
		out.Version = "dev"
	}
	if bi != nil {
		if bi.GoVersion != "" {
			out.GoVersion = bi.GoVersion
		}
		if out.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			out.Version = bi.Main.Version
		}
		vcs := map[string]string{}
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
		if out.Revision == "" {
			out.Revision = vcs["vcs.revision"]
			out.Modified = vcs["vcs.modified"] == "true"
		}
		out.CommitTime = vcs["vcs.time"]
	}
	if out.Revision == "" {
		out.Revision = "unknown"
	}
	return out
}

func versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := currentBuild()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(b)
			}
			rev := b.Revision
			if b.Modified {
				rev += " (modified)"
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 1, ' ', 0)
			fmt.Fprintf(w, "Version:\t%s\n", b.Version)
			fmt.Fprintf(w, "Revision:\t%s\n", rev)
			if b.CommitTime != "" {
				fmt.Fprintf(w, "Commit time:\t%s\n", b.CommitTime)
			}
			fmt.Fprintf(w, "Go version:\t%s\n", b.GoVersion)
			fmt.Fprintf(w, "Platform:\t%s\n", b.Platform)
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object (version, revision, modified, commit_time, go_version, platform)")
	return cmd
}
