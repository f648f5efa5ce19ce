//go:build nginx

// The nginx tests need an nginx binary; .ci/run installs it and runs them
// with -tags nginx, so they never skip silently.

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nginxRules = `
- id: public
  match: {url: "http://<[^/]+>/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators:
    - handler: header
      config: {headers: {X-User: "{{ print .Subject }}"}}
- id: admin
  match: {url: "http://<[^/]+>/admin/<.*>", methods: [GET]}
  authenticators: [{handler: unauthorized}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`

const nginxConf = `
worker_processes 1;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 64; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen 127.0.0.1:%[2]d;
    location / {
      auth_request /_portcullis;
      auth_request_set $portcullis_user $upstream_http_x_user;
      proxy_set_header X-User $portcullis_user;
      proxy_pass http://%[3]s;
    }
    location = /_portcullis {
      internal;
      proxy_pass http://%[4]s/decisions;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Method $request_method;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }
  }
}
`

func TestNginxAuthRequest(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Fatal("nginx is required for the decision API tests (apt-get install -y nginx)")
	}
	dir := t.TempDir()
	// nginx's auth_request understands only 2xx, 401 and 403 (anything
	// else becomes a 500 with an error log line), so behind nginx "no rule"
	// should answer 403.
	writeFile(t, filepath.Join(dir, "config.yaml"), strings.Replace(config, "repositories: [file://rules.yaml]", "repositories: [file://rules.yaml]\n  no_match_status: 403", 1))
	writeFile(t, filepath.Join(dir, "rules.yaml"), nginxRules)
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml")

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s users=%d", r.Header.Get("X-User"), len(r.Header.Values("X-User")))
	}))
	defer upstream.Close()

	port := freePort(t)
	ndir := t.TempDir()
	conf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, ndir, port, strings.TrimPrefix(upstream.URL, "http://"), p.apiAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", ndir, "-c", conf, "-g", "daemon off;")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	// nginx's workers inherit stdout; stop the whole process group so
	// Wait does not block on a surviving worker.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(ndir, "error.log"))
			t.Logf("nginx: %s\n%s", out, b)
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/public/ping")

	tests := []struct {
		name, path string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"allowed, identity header from portcullis replaces the client's", "/public/x?q=1", map[string]string{"X-User": "admin"}, 200, "user=anonymous users=1"},
		{"authentication required", "/admin/x", nil, 401, ""},
		{"traversal is judged on the normalised path", "/public/../admin/x", nil, 401, ""},
		{"no rule is forbidden", "/nowhere", nil, 403, ""},
		// nginx sets the forwarded headers it sends, so the client's own
		// copies never choose the request judged.
		{"the client's X-Forwarded-* are replaced by nginx's", "/admin/x",
			map[string]string{"X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET", "X-Forwarded-Host": "other.test"}, 401, ""},
		// nginx passes the client's X-Original-Uri through beside its own
		// X-Forwarded-Uri: two statements of the path that disagree are a
		// 400, which auth_request turns into a 500. Denied either way.
		{"a client's X-Original-Uri disagreeing with nginx's X-Forwarded-Uri", "/admin/x",
			map[string]string{"X-Original-Uri": "/public/x"}, 500, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("status %d body %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reachable: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
