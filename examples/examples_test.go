package examples_test

import (
	"context"
	"io/fs"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/examples"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

func TestQuickstartCompilesAndDecides(t *testing.T) {
	qs := examples.Quickstart()
	data, err := fs.ReadFile(qs, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.Load("quickstart/config.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("the quickstart config should load without warnings: %v", warnings)
	}
	src, err := filesource.New(cfg.AccessRules.Repositories, qs, nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, _, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	deps := builtin.NewDeps(nil)
	defer deps.Close()
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	snap, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Warnings) > 0 {
		t.Errorf("warnings: %v", snap.Warnings)
	}
	tests := []struct {
		method, path string
		want         int
		user         string
	}{
		{"GET", "/public/index.html", 200, "guest"},
		{"HEAD", "/public", 200, "guest"},
		{"GET", "/admin/settings", 403, ""},
		{"GET", "/private/x", 401, ""},
		{"GET", "/elsewhere", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			d := snap.Execute(context.Background(), &pipeline.Request{Method: tt.method, Scheme: "http", Host: "demo", RawPath: tt.path, Header: pipeline.Header{}})
			status := d.Denial.Status
			if d.Allowed {
				status = 200
				if got := d.Session.Header.Get("x-user"); got != tt.user {
					t.Errorf("x-user %q, want %q", got, tt.user)
				}
			}
			if status != tt.want {
				t.Fatalf("status %d, want %d (%v)", status, tt.want, d.Err)
			}
		})
	}
}
