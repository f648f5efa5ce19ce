package rulesv1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bufModule is the buf that `task proto` runs; the test runs the same.
const bufModule = "github.com/bufbuild/buf/cmd/buf@v1.75.0"

// TestGeneratedCodeIsCurrent regenerates the Go code from rules.proto
// into a temporary folder and compares it with the committed file, so an
// edit of the .proto without `task proto` fails here. It runs buf and
// protoc-gen-go through `go run`: they come from the module cache, or
// from the Go module proxy the first time.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	taskfile, err := os.ReadFile("../../../../Taskfile.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(taskfile), "go run "+bufModule+" generate") {
		t.Fatalf("Taskfile.yml's proto task does not run %s: keep the two in step", bufModule)
	}
	out := t.TempDir()
	cmd := exec.Command("go", "run", bufModule, "generate", "--output", out)
	cmd.Dir = "../../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, b)
	}
	for _, name := range []string{"rules.pb.go"} {
		want, err := os.ReadFile(filepath.Join(out, "portcullis/rules/v1", name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `task proto` and commit the result", name)
		}
	}
}
