package main

import (
	"strings"
	"testing"
)

func TestCheckRepositories(t *testing.T) {
	tests := []struct {
		name  string
		repos []string
		err   string
	}{
		{name: "one xds repository", repos: []string{"xds://cp:18000?node=gw-1&cluster=edge"}},
		{name: "files", repos: []string{"file:///etc/rules", "inline://W10="}},
		{name: "mixed kinds", repos: []string{"xds://cp:18000", "file:///etc/rules", "https://rules.test/r.json", "inline://W10="}},
		{name: "bad http URL", repos: []string{"https:///r.json"}, err: "not an http(s) URL with a host"},
		{name: "two xds", repos: []string{"xds://a:1", "xds://b:1"}, err: "repositories[1]: only one xds:// repository"},
		{name: "bad xds option", repos: []string{"xds://cp:18000?nod=x"}, err: `unknown option "nod"`},
		{name: "xds without port", repos: []string{"xds://cp"}, err: "want xds://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRepositories(tt.repos)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}
