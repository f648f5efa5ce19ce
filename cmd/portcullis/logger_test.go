package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// TestRejectedReloadLogsOneLine covers issue #10 item 14 with the logger
// serve builds and the real file source: a rejected reload is one log
// line holding every error, with no stack trace and no source paths (zap's
// production config adds a multi-line stack of build paths to each Error).
func TestRejectedReloadLogsOneLine(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			logFile, rules := filepath.Join(dir, "portcullis.log"), filepath.Join(dir, "rules.yaml")
			cfg, err := loggerConfig(config.Log{Level: "info", Format: format})
			if err != nil {
				t.Fatal(err)
			}
			cfg.OutputPaths = []string{logFile}
			log, err := cfg.Build()
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(rules, []byte("[]"), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := filesource.New([]string{"file://" + rules}, nil, log)
			if err != nil {
				t.Fatal(err)
			}
			src.Debounce = time.Millisecond
			failed, watching := make(chan error, 8), make(chan struct{})
			src.OnError = func(err error) { failed <- err }
			src.OnWatching = func() { close(watching) }
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(1)
			publish := func(rulestore.Set) error { t.Error("a rejected set was applied"); return nil }
			go func() { defer wg.Done(); _ = src.Run(ctx, publish) }()
			defer func() { cancel(); wg.Wait() }()
			<-watching

			bad := "- id: a\n  mach: {}\n- id: b\n  version: '42'\n"
			if err := os.WriteFile(rules, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			select {
			case <-failed: // logged before OnError is called
			case <-time.After(10 * time.Second):
				t.Fatal("no rejection")
			}
			_ = log.Sync()
			b, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if len(lines) < 1 {
				t.Fatal("nothing logged")
			}
			// A write may be seen as more than one event; each rejection
			// is then one line of its own.
			for _, l := range lines {
				for _, want := range []string{"rules rejected, previous rules stay in force", `unknown field \"mach\" (did you mean \"match\"?)`, `version: \"42\" is not a semantic version`} {
					if !strings.Contains(l, want) {
						t.Errorf("line lacks %s: %s", want, l)
					}
				}
				for _, never := range []string{"stacktrace", ".go:", "github.com/"} {
					if strings.Contains(l, never) {
						t.Errorf("line has %q: %s", never, l)
					}
				}
			}
		})
	}
}
