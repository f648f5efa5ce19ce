// Package examples holds sample configurations and rules: quickstart/ (the
// config `portcullis serve` runs without --config, embedded in the
// binary), kubernetes/ (ConfigMap, Deployment with gRPC probes, Service)
// and istio/ (mesh ext_authz provider and a CUSTOM AuthorizationPolicy).
// Every example is loaded, and every config and rule set compiled, by
// this package's tests.
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
