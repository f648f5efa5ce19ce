//go:build nginx

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNginxAuthRequest runs examples/nginx/nginx.conf in a real nginx.
func TestNginxAuthRequest(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatal("nginx is required for the decision API tests (apt-get install -y nginx)")
	}
	port := freePort(t)
	p, app := startFrontDoor(t, port)

	ndir := t.TempDir()
	conf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(exampleConfig(t, "../examples/nginx/nginx.conf",
		[2]string{"listen 127.0.0.1:8080;", fmt.Sprintf("listen 127.0.0.1:%d;", port)},
		[2]string{"server 127.0.0.1:4456;", "server " + p.apiAddr + ";"},
		[2]string{"server 127.0.0.1:3000;", "server " + strings.TrimPrefix(app.URL, "http://") + ";"},
	)), 0o644); err != nil {
		t.Fatal(err)
	}
	startProxy(t, exec.Command(nginx, "-p", ndir, "-c", conf, "-g", "daemon off;"), func() string {
		b, _ := os.ReadFile(filepath.Join(ndir, "error.log"))
		return string(b)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/public/ping")
	testFrontDoor(t, base)
}
