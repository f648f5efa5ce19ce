package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// ruleServer serves one rule file with an ETag and answers If-None-Match
// with 304, counting both kinds of answer.
type ruleServer struct {
	mu           sync.Mutex
	body         string
	full, cached int
}

func (s *ruleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := sha256.Sum256([]byte(s.body))
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	if r.Header.Get("If-None-Match") == etag {
		s.cached++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.full++
	w.Header().Set("ETag", etag)
	_, _ = w.Write([]byte(s.body))
}

func (s *ruleServer) counts() (full, cached int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full, s.cached
}

const remoteRule = `
- id: remote
  match: {url: "https://api.test/remote/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: AUTHZ}
  mutators: [{handler: noop}]
`

// mixedSetup writes a config whose rules come from a file and an http
// repository polled every second.
func mixedSetup(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	dir := setup(t, allowRules)
	writeFile(t, filepath.Join(dir, "config.yaml"), strings.Replace(config,
		"repositories: [file://rules.yaml]", "repositories: [file://rules.yaml, "+srv.URL+"/remote.yaml]\n  poll_interval: 1s", 1))
	return dir
}

// reloads reads status.Reloads from /debug/rules.
func (p *process) reloads(t *testing.T) uint64 {
	t.Helper()
	var d struct {
		Status struct{ Reloads uint64 } `json:"status"`
	}
	if err := json.Unmarshal(getBody(t, "http://"+p.metricsAddr+"/debug/rules"), &d); err != nil {
		t.Fatal(err)
	}
	return d.Status.Reloads
}

// TestHTTPRepositoryCombinedWithFiles: the rules of a file and of an
// http repository serve together; unchanged polls are 304s that cost no
// recompilation; a change is picked up on the next poll.
func TestHTTPRepositoryCombinedWithFiles(t *testing.T) {
	rs := &ruleServer{body: strings.Replace(remoteRule, "AUTHZ", "allow", 1)}
	srv := httptest.NewServer(rs)
	defer srv.Close()
	p := startPortcullis(t, mixedSetup(t, srv), "serve", "--config", "config.yaml")
	c := authv3.NewAuthorizationClient(p.dial(t))
	for _, path := range []string{"/public/1", "/remote/1"} {
		if o := check(t, c, envoyRequest("GET", path, nil, false)); o.status != 200 {
			t.Fatalf("%s: status %d", path, o.status)
		}
	}

	deadline := time.Now().Add(20 * time.Second)
	for _, cached := rs.counts(); cached < 2; _, cached = rs.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("no conditional polls within 20s:\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := p.reloads(t); n != 1 {
		t.Fatalf("%d reloads after 304s: want 1 (the start-up load)", n)
	}

	rs.mu.Lock()
	rs.body = strings.Replace(remoteRule, "AUTHZ", "deny", 1)
	rs.mu.Unlock()
	for check(t, c, envoyRequest("GET", "/remote/1", nil, false)).status != 403 {
		if time.Now().After(deadline) {
			t.Fatalf("changed http repository not in force:\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o := check(t, c, envoyRequest("GET", "/public/1", nil, false)); o.status != 200 {
		t.Fatalf("file rules lost: status %d", o.status)
	}
}

// TestDuplicateIDAcrossRepositoriesExitsNonZero: a rule id defined by two
// repositories is refused at start-up with both named.
func TestDuplicateIDAcrossRepositoriesExitsNonZero(t *testing.T) {
	rs := &ruleServer{body: strings.Replace(strings.Replace(remoteRule, "AUTHZ", "allow", 1), "id: remote", "id: public", 1)}
	srv := httptest.NewServer(rs)
	defer srv.Close()
	out, code := run(t, mixedSetup(t, srv), "serve", "--config", "config.yaml")
	if code == 0 || !strings.Contains(out, `rule id "public" is defined by two repositories: file://rules.yaml and `+srv.URL+"/remote.yaml") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// TestXDSRepositoryCombinedWithFile: an instance takes rules from the
// control plane and from a local file at once; it is ready once the
// stream delivered, serves both, and a stream change keeps the file's
// rules.
func TestXDSRepositoryCombinedWithFile(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "streamed.yaml"), xdsRule("streamed", "allow"))
	writeFile(t, filepath.Join(dir, "local.yaml"), xdsRule("local", "allow"))
	listen, cpMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startControlPlane(t, dir, listen, cpMetrics)
	writeFile(t, filepath.Join(dir, "mixed.yaml"), strings.Replace(fmt.Sprintf(xdsInstanceConfig, listen, "mixed"),
		`repositories: ["xds://`, `repositories: ["file://local.yaml", "xds://`, 1))
	p := startPortcullis(t, dir, "serve", "-c", "mixed.yaml") // ready = the combined set applied
	if !allowed(t, p, "/streamed/x") || !allowed(t, p, "/local/x") {
		t.Fatalf("combined rules not in force: %+v", p.rules(t))
	}
	writeFile(t, filepath.Join(rulesDir, "streamed.yaml"), xdsRule("streamed2", "allow"))
	eventually(t, "the stream change", func() bool { return p.rules(t).has("streamed2") })
	if !p.rules(t).has("local") || !allowed(t, p, "/local/x") {
		t.Fatal("the file's rules were lost on a stream change")
	}
}
