package examples_test

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/examples"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

func TestQuickstartCompilesAndDecides(t *testing.T) {
	qs := examples.Quickstart()
	data, err := fs.ReadFile(qs, "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := rulestore.LoadConfig("quickstart/config.yaml", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("the quickstart config should load without warnings: %v", warnings)
	}
	src, err := rulestore.NewFileSource(cfg.AccessRules.Repositories, qs, nil)
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

// The Kubernetes ConfigMap carries a real config and rule set: both must
// load and compile, so the manifest cannot drift from the code.
func TestKubernetesConfigMapCompiles(t *testing.T) {
	raw, err := os.ReadFile("kubernetes/portcullis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Kind == "ConfigMap" {
			break
		}
	}
	if cm.Kind != "ConfigMap" {
		t.Fatal("no ConfigMap in the manifest")
	}
	cfg, _, err := rulestore.LoadConfig("configmap:config.yaml", []byte(cm.Data["config.yaml"]), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("configmap:rules.yaml", []byte(cm.Data["rules.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	deps := builtin.NewDeps(nil)
	defer deps.Close()
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	if _, err := pipeline.Compile(specs, cfg.Pipeline(), reg); err != nil {
		t.Fatal(err)
	}
}

func TestIstioManifestParses(t *testing.T) {
	raw, err := os.ReadFile("istio/portcullis-istio.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var obj struct {
			Kind string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		kinds[obj.Kind] = true
	}
	if !kinds["IstioOperator"] || !kinds["AuthorizationPolicy"] {
		t.Fatalf("kinds %v", kinds)
	}
}
