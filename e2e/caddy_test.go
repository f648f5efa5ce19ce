//go:build caddy

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaddyForwardAuth runs examples/caddy/Caddyfile in a real Caddy.
func TestCaddyForwardAuth(t *testing.T) {
	caddy, err := exec.LookPath("caddy")
	if err != nil {
		t.Fatal("caddy is required for the Caddy front-door test (go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9, as .ci/run does)")
	}
	port := freePort(t)
	p, app := startFrontDoor(t, port)

	dir := t.TempDir()
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(exampleConfig(t, "../examples/caddy/Caddyfile",
		[2]string{":8080 {", fmt.Sprintf(":%d {", port)},
		[2]string{"forward_auth 127.0.0.1:4456 {", "forward_auth " + p.apiAddr + " {"},
		[2]string{"reverse_proxy 127.0.0.1:3000", "reverse_proxy " + strings.TrimPrefix(app.URL, "http://")},
	)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(caddy, "run", "--config", conf, "--adapter", "caddyfile")
	// Caddy keeps state under $HOME/$XDG_*: give it the test's folder.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	startProxy(t, cmd, func() string { return "" })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/public/ping")
	testFrontDoor(t, base)
}
