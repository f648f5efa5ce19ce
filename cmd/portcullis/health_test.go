package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// apiServer serves the real HTTP API on 127.0.0.1 over a rule store that
// has loaded testdata/valid when loaded is true.
func apiServer(t *testing.T, loaded bool, draining *atomic.Bool) *httptest.Server {
	t.Helper()
	cfg, _, err := config.Load("testdata/valid/config.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps := builtin.NewDeps(zap.NewNop())
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	store := rulestore.NewStore(cfg.Pipeline(), reg, zap.NewNop())
	if loaded {
		src, err := filesource.New([]string{"file://testdata/valid/rules.yaml"}, nil, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		specs, version, err := src.Load()
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Apply(specs, version); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(authz.NewAPIHandler(store, draining.Load, authz.APIOptions{}))
	t.Cleanup(srv.Close)
	return srv
}

// TestHealthCommandExitCodes drives `portcullis health` against the real
// API handler: 0 only for a 200, 1 for a 503, a refused connection, a
// redirect or no answer within --timeout.
func TestHealthCommandExitCodes(t *testing.T) {
	var notDraining, draining atomic.Bool
	draining.Store(true)
	up := apiServer(t, true, &notDraining)
	noRules := apiServer(t, false, &notDraining)
	stopping := apiServer(t, true, &draining)

	// A port nothing listens on any more: the connection is refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()

	// A server that never answers, until the test ends.
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) })

	moved := httptest.NewServer(http.RedirectHandler("/elsewhere", http.StatusFound))
	t.Cleanup(moved.Close)

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"alive", []string{"health", "alive", "--endpoint", up.URL}, 0, `{"status":"ok"}`, ""},
		{"ready", []string{"health", "ready", "-e", up.URL}, 0, `"status":"ok"`, ""},
		{"endpoint with a trailing slash", []string{"health", "ready", "--endpoint", up.URL + "/"}, 0, `"status":"ok"`, ""},
		{"alive before rules load", []string{"health", "alive", "--endpoint", noRules.URL}, 0, `{"status":"ok"}`, ""},
		{"not ready before rules load", []string{"health", "ready", "--endpoint", noRules.URL}, 1, "",
			"portcullis: GET " + noRules.URL + "/health/ready: 503 Service Unavailable: {"},
		{"not ready while draining", []string{"health", "ready", "--endpoint", stopping.URL}, 1, "", "503 Service Unavailable"},
		{"down", []string{"health", "alive", "--endpoint", down}, 1, "", "portcullis: GET " + down + "/health/alive: dial tcp"},
		{"no answer in time", []string{"health", "alive", "--endpoint", hung.URL, "--timeout", "100ms"}, 1, "",
			"portcullis: GET " + hung.URL + "/health/alive: no answer within 100ms"},
		{"a redirect is not healthy", []string{"health", "alive", "--endpoint", moved.URL}, 1, "", "302 Found"},
		{"bad endpoint", []string{"health", "alive", "--endpoint", "127.0.0.1:4456"}, 1, "",
			`portcullis: --endpoint: "127.0.0.1:4456" is not an http(s) URL such as http://127.0.0.1:4456`},
		{"unknown probe", []string{"health", "live", "--endpoint", up.URL}, 1, "", `unknown command "live" for "portcullis health"`},
		{"no probe", []string{"health", "--endpoint", up.URL}, 1, "", "portcullis: health: name the probe: alive or ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			// The answer is printed on one line; the readiness body may
			// carry more detail than the status.
			if out := stdout.String(); !strings.Contains(out, tt.wantStdout) || strings.Count(out, "\n") != min(len(out), 1) || (tt.wantStdout == "") != (out == "") {
				t.Errorf("stdout %q, want one line containing %q", out, tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) || (tt.wantStderr != "" && strings.Count(stderr.String(), "\n") != 1) {
				t.Errorf("stderr %q, want one line containing %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}
