// Package examples holds sample configurations and rules. The quickstart
// folder is embedded in the binary: `portcullis serve` without --config
// runs it. Every example is loaded and compiled by this package's tests.
package examples

import (
	"embed"
	"io/fs"
)

//go:embed quickstart/*.yaml
var quickstart embed.FS

// Quickstart returns the quickstart folder (config.yaml, rules.yaml).
func Quickstart() fs.FS {
	sub, err := fs.Sub(quickstart, "quickstart")
	if err != nil {
		panic(err) // the embed pattern guarantees the folder exists
	}
	return sub
}
