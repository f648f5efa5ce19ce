// Package examples holds sample configurations and rules: quickstart/ (the
// config `portcullis serve` runs without --config, embedded in the
// binary), kubernetes/ (Namespace, ConfigMap, a Pod Security "restricted"
// Deployment with probes, Service, PodDisruptionBudget, autoscaler),
// istio/ (the mesh's ext_authz provider and a CUSTOM AuthorizationPolicy)
// and the front doors that ask the decision API: nginx/, caddy/ and
// traefik/. Every example is decoded strictly, and every config and rule
// set compiled, by this package's tests; nginx and Caddy also run in e2e.
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
