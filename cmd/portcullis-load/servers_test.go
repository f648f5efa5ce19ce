package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/internal/logging"
)

// TestChildLoggerIsServes: the Portcullis child logs as serve does, at
// the service's default level and format, into the file it is given:
// decision lines are text, debug lines are dropped, and stop writes out
// what the buffer holds.
func TestChildLoggerIsServes(t *testing.T) {
	cfg, err := serviceConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "info" || cfg.Log.Format != "text" {
		t.Fatalf("scenario log config %+v, want the service's default info and text", cfg.Log)
	}
	file := filepath.Join(t.TempDir(), "child.log")
	log, stop, err := childLogger(cfg, file)
	if err != nil {
		t.Fatal(err)
	}
	decisions := log.Named(logging.DecisionLogger)
	decisions.Debug("hidden")
	decisions.Info("decision")
	stop() // writes out the buffer, whenever the flush ticker last ran
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], "\tINFO\tdecision\tdecision") {
		t.Fatalf("lines %q, want one text decision line", lines)
	}
}
