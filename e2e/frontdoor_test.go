//go:build nginx || caddy

// The front-door tests run a real proxy (nginx, Caddy) from its example
// config in examples/ against the decision API. Each proxy has its own
// build tag; .ci/run installs the proxies and runs both, so they never
// skip silently.

package e2e

import (
	"encoding/json"
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

// frontDoorRules are the rules the front-door tests decide with. port is
// the proxy's: the "ported" rule is written with the port, as a rule for a
// site on a non-default port is, and matches only if the proxy forwards
// the Host with its port.
func frontDoorRules(port int) string {
	return fmt.Sprintf(`
- id: public
  match: {url: "http://<[^/]+>/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators:
    - handler: header
      config: {headers: {X-User: "{{ print .Subject }}"}}
- id: ported
  match: {url: "http://127.0.0.1:%d/ported/<.*>", methods: [GET]}
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
`, port)
}

// startFrontDoor starts portcullis with frontDoorRules(proxyPort) and an
// upstream app that echoes the identity it was given. nginx's
// auth_request understands only 2xx, 401 and 403, so "no rule" answers 403
// for every front door alike.
func startFrontDoor(t *testing.T, proxyPort int) (p *process, app *httptest.Server) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.yaml"), strings.Replace(config, "repositories: [file://rules.yaml]", "repositories: [file://rules.yaml]\n  no_match_status: 403", 1))
	writeFile(t, filepath.Join(dir, "rules.yaml"), frontDoorRules(proxyPort))
	p = startPortcullis(t, dir, "serve", "--config", "config.yaml")
	app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s users=%d", r.Header.Get("X-User"), len(r.Header.Values("X-User")))
	}))
	t.Cleanup(app.Close)
	return p, app
}

// exampleConfig reads a front door's example config and replaces its
// addresses with the test's. Each address must occur exactly once, so the
// example cannot drift from what is tested.
func exampleConfig(t *testing.T, path string, replace ...[2]string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, r := range replace {
		if n := strings.Count(s, r[0]); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", path, r[0], n)
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return s
}

// startProxy starts cmd in its own process group and stops the group
// (workers included) when the test ends, logging its output on failure.
func startProxy(t *testing.T, cmd *exec.Cmd, logs func() string) {
	t.Helper()
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s\n%s", filepath.Base(cmd.Path), out, logs())
		}
	})
}

// waitHTTP waits until url answers at all (see waitLog).
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := testDeadline(t)
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

// jsonError is the body of Portcullis's json error handler.
type jsonError struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"error"`
}

// testFrontDoor sends the same requests through every front door: what
// reaches the app, and what a denied client gets (Portcullis's JSON error,
// served by Portcullis or, for nginx, rebuilt by the proxy).
func testFrontDoor(t *testing.T, base string) {
	t.Helper()
	unauthorized := `{"code":401,"status":"Unauthorized","message":"The request could not be authorized"}`
	forbidden := `{"code":403,"status":"Forbidden","message":"The requested action was forbidden"}`
	tests := []struct {
		name, path string
		header     map[string]string
		wantStatus int
		wantBody   string // the app's answer on 200, the JSON error else
	}{
		{"allowed, the identity header from portcullis replaces the client's", "/public/x?q=1", map[string]string{"X-User": "admin"}, 200, "user=anonymous users=1"},
		{"the forwarded host keeps its port", "/ported/x", nil, 200, "user=anonymous users=1"},
		{"authentication required", "/admin/x", nil, 401, unauthorized},
		{"traversal is judged on the normalised path", "/public/../admin/x", nil, 401, unauthorized},
		{"no rule is forbidden", "/nowhere", nil, 403, forbidden},
		// The proxy sets the forwarded headers it sends, so the client's
		// own copies never choose the request judged.
		{"the client's X-Forwarded-* are replaced by the proxy's", "/admin/x",
			map[string]string{"X-Forwarded-Uri": "/public/x", "X-Forwarded-Method": "GET", "X-Forwarded-Host": "other.test", "X-Forwarded-Proto": "https"}, 401, unauthorized},
		// ...and the other statements of the request are not passed on.
		{"the client's X-Original-Uri and Forwarded are dropped", "/admin/x",
			map[string]string{"X-Original-Uri": "/public/x", "X-Original-Method": "GET", "Forwarded": "host=other.test;proto=https"}, 401, unauthorized},
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
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d body %q, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if resp.StatusCode == 200 {
				if string(body) != tt.wantBody {
					t.Fatalf("app answered %q, want %q", body, tt.wantBody)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got, want jsonError
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("denial body %q is not Portcullis's JSON error: %v", body, err)
			}
			_ = json.Unmarshal([]byte(`{"error":`+tt.wantBody+`}`), &want)
			if got != want {
				t.Errorf("denial body %q, want %s", body, tt.wantBody)
			}
		})
	}
}
