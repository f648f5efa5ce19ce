package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/lestrrat-go/jwx/v2/jwk"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// testDeadline is when a wait for an event gives up: shortly before the
// test binary's -timeout (a minute from now without one). It bounds a
// broken test; it never decides an outcome.
func testDeadline(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-10 * time.Second)
	}
	return time.Now().Add(time.Minute)
}

// eventually polls cond until it holds or the test deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := testDeadline(t)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readyBody is /health/ready's answer.
type readyBody struct {
	Status       string            `json:"status"`
	Errors       map[string]string `json:"errors"`
	Dependencies struct {
		Rules struct {
			Loaded  bool   `json:"loaded"`
			Version string `json:"version"`
		} `json:"rules"`
		KeySets []struct {
			URL, Use, State, Error string
			Required               bool
		} `json:"key_sets"`
	} `json:"dependencies"`
}

func (p *process) ready(t *testing.T) (int, readyBody) {
	t.Helper()
	resp, err := http.Get("http://" + p.apiAddr + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b readyBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (p *process) grpcHealth(t *testing.T, hc healthpb.HealthClient) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

// decide asks the decision API about GET https://api.test/<path>.
func (p *process) decide(t *testing.T, path string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.apiAddr+"/decisions"+path, nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "api.test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("decision API during the drain: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// exitCode waits for the process to end and returns its exit code.
func (p *process) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(time.Until(testDeadline(t))):
		t.Fatalf("did not stop:\n%s", p.logs())
	}
	return p.cmd.ProcessState.ExitCode()
}

// phases returns the shutdown phase lines of the log, in order.
func (p *process) phases() []string {
	var out []string
	for _, l := range lines(p.logs()) {
		for _, ph := range []string{"draining", "stopping", "stopped"} {
			if strings.Contains(l, `"msg":"`+ph+`"`) {
				out = append(out, ph)
			}
		}
	}
	return out
}

// TestShutdownDrainsEveryListener: on SIGTERM, readiness turns false on
// every listener while both the gRPC and the HTTP decision API still
// answer (the drain lasts until a second SIGTERM here, so nothing races a
// timer); then the servers stop and the process exits 0, with one log line
// per phase.
func TestShutdownDrainsEveryListener(t *testing.T) {
	dir := setup(t, allowRules)
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml", "--drain", "10m")
	conn := p.dial(t)
	hc, ac := healthpb.NewHealthClient(conn), authv3.NewAuthorizationClient(conn)
	if st := p.grpcHealth(t, hc); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health before SIGTERM: %v", st)
	}
	if code, body := p.ready(t); code != 200 || body.Status != "ok" || !body.Dependencies.Rules.Loaded || body.Dependencies.Rules.Version == "" {
		t.Fatalf("ready before SIGTERM: %d %+v", code, body)
	}

	p.signal(t, syscall.SIGTERM)
	p.waitLog(t, `"msg":"draining"`)
	if code, body := p.ready(t); code != 503 || body.Errors["shutdown"] == "" {
		t.Fatalf("/health/ready while draining: %d %+v", code, body)
	}
	if st := p.grpcHealth(t, hc); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health while draining: %v", st)
	}
	if resp := p.decide(t, "/public/1"); resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("decision API while draining: %d, Connection: close %v", resp.StatusCode, resp.Close)
	}
	if o := check(t, ac, envoyRequest("GET", "/public/1", nil, false)); o.status != 200 {
		t.Fatalf("gRPC check while draining: %d", o.status)
	}
	if resp, err := http.Get("http://" + p.apiAddr + "/health/alive"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("liveness while draining: %v %v", resp, err)
	}

	p.signal(t, syscall.SIGTERM) // ends the drain early
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.logs())
	}
	if got := strings.Join(p.phases(), ","); got != "draining,stopping,stopped" {
		t.Fatalf("phase lines %q:\n%s", got, p.logs())
	}
}

// TestShutdownAfterDrainDelay: the drain ends by itself after --drain.
func TestShutdownAfterDrainDelay(t *testing.T) {
	dir := setup(t, allowRules)
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml", "--drain", "50ms")
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d:\n%s", code, p.logs())
	}
	if got := strings.Join(p.phases(), ","); got != "draining,stopping,stopped" {
		t.Fatalf("phase lines %q:\n%s", got, p.logs())
	}
}

func TestListenerInUseExitsNonZero(t *testing.T) {
	dir := setup(t, allowRules)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, code := runEnv(ctx, t, dir, []string{"PORTCULLIS_SERVE_API_HOST=127.0.0.1", fmt.Sprintf("PORTCULLIS_SERVE_API_PORT=%d", busy.Addr().(*net.TCPAddr).Port)},
		"serve", "--config", "config.yaml")
	if code != 1 || !strings.Contains(out, "portcullis: serve.api: ") || !strings.Contains(out, "address already in use") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func runEnv(ctx context.Context, t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("did not run:\n%s", out)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// TestSIGHUPReloadsRulesAndLogLevel: SIGHUP reads the rules again (here a
// change the file watcher cannot see: the target of a symlink in another
// directory), applies the new log.level and names a changed key that
// needs a restart.
func TestSIGHUPReloadsRulesAndLogLevel(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"conf", "rules", "store"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(root, "store", "rules.yaml")
	writeFile(t, target, allowRules)
	if err := os.Symlink(target, filepath.Join(root, "rules", "rules.yaml")); err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(config, "file://rules.yaml", "file://"+filepath.Join(root, "rules", "rules.yaml"), 1)
	writeFile(t, filepath.Join(root, "conf", "config.yaml"), conf)
	p := startPortcullis(t, root, "serve", "--config", "conf/config.yaml")
	conn := p.dial(t)
	c, hc := authv3.NewAuthorizationClient(conn), healthpb.NewHealthClient(conn)
	if o := check(t, c, envoyRequest("GET", "/public/1", nil, false)); o.status != 200 {
		t.Fatalf("before: %d", o.status)
	}

	writeFile(t, target, strings.Replace(allowRules, "authorizer: {handler: allow}\n  mutators:\n    - handler: header", "authorizer: {handler: deny}\n  mutators:\n    - handler: header", 1))
	changed := strings.Replace(conf, "log: {level: info", "log: {level: debug", 1)
	changed = strings.Replace(changed, "access_rules:\n", "access_rules:\n  no_match_status: 403\n", 1)
	writeFile(t, filepath.Join(root, "conf", "config.yaml"), changed)
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, `"msg":"rules reloaded"`)
	if o := check(t, c, envoyRequest("GET", "/public/1", nil, false)); o.status != 403 {
		t.Fatalf("after SIGHUP: %d, want the reloaded rule's 403", o.status)
	}
	for _, want := range []string{`"msg":"log level changed","log_level":"debug"`,
		`"msg":"config changes that need a restart were not applied","keys":["access_rules.no_match_status"]`} {
		if !strings.Contains(p.logs(), want) {
			t.Errorf("no %s in:\n%s", want, p.logs())
		}
	}
	if o := check(t, c, envoyRequest("GET", "/nowhere", nil, false)); o.status != 404 {
		t.Errorf("no_match_status changed without a restart: %d", o.status)
	}
	p.grpcHealth(t, hc) // logged at debug level only
	p.waitLog(t, `"level":"debug"`)
}

// flakyKeys serves an id_token signing key set, answering 503 until up.
type flakyKeys struct {
	hits chan struct{}
	mu   sync.Mutex
	doc  []byte
	isUp bool
}

func newFlakyKeys(t *testing.T) (*flakyKeys, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.FromRaw(k)
	if err != nil {
		t.Fatal(err)
	}
	_ = key.Set(jwk.KeyIDKey, "e2e")
	doc, err := json.Marshal(map[string]any{"keys": []jwk.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyKeys{hits: make(chan struct{}, 1000), doc: doc}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.mu.Lock()
		up := f.isUp
		f.mu.Unlock()
		if up {
			w.Header().Set("Content-Type", "application/json")
			w.Write(f.doc)
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		f.hits <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL + "/jwks.json"
}

func (f *flakyKeys) up() {
	f.mu.Lock()
	f.isUp = true
	f.mu.Unlock()
}

func (f *flakyKeys) waitHits(t *testing.T, n int) {
	t.Helper()
	timer := time.NewTimer(time.Until(testDeadline(t)))
	defer timer.Stop()
	for range n {
		select {
		case <-f.hits:
		case <-timer.C:
			t.Fatal("the key set endpoint was not asked again")
		}
	}
}

const idTokenRules = `
- id: minted
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: id_token}]
`

func idTokenConfig(jwksURL, readiness string) string {
	return fmt.Sprintf(`
access_rules:
  repositories: [file://rules.yaml]
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators:
  id_token: {enabled: true, config: {issuer_url: "https://gw.test/", jwks_url: %q}}
serve: {readiness: {require: %s}}
log: {level: info, format: json}
`, jwksURL, readiness)
}

// TestIDTokenKeysUnreachableAtStartup covers issue #10 item 10: an
// id_token key set that cannot be fetched at start-up does not stop the
// service. The rule answers 503 id_token_keys_unavailable, readiness
// reports the set missing (and stays 200: only the rules decide by
// default), the outage is logged once however often the background retry
// runs, and the rule signs once the endpoint is up.
func TestIDTokenKeysUnreachableAtStartup(t *testing.T) {
	keys, url := newFlakyKeys(t)
	dir := setup(t, idTokenRules)
	writeFile(t, filepath.Join(dir, "config.yaml"), idTokenConfig(url, "[]"))
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml")
	c := authv3.NewAuthorizationClient(p.dial(t))

	code, body := p.ready(t)
	if code != 200 || len(body.Dependencies.KeySets) != 1 {
		t.Fatalf("ready: %d %+v", code, body)
	}
	if ks := body.Dependencies.KeySets[0]; ks.URL != url || ks.Use != "sign" || ks.State != "missing" || !strings.Contains(ks.Error, "status 503") || ks.Required {
		t.Fatalf("key set in the ready body: %+v", ks)
	}
	if o := check(t, c, envoyRequest("GET", "/public/1", nil, false)); o.status != 503 {
		t.Fatalf("rule without keys: %d, want 503", o.status)
	}
	p.waitLog(t, `"reason":"id_token_keys_unavailable"`)
	keys.waitHits(t, 2) // the start-up fetch and a background retry
	if n := strings.Count(p.logs(), "id_token signing keys unavailable"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, p.logs())
	}

	keys.up()
	eventually(t, "the rule to sign", func() bool {
		o := check(t, c, envoyRequest("GET", "/public/1", nil, false))
		return o.status == 200 && strings.HasPrefix(o.header["authorization"], "Bearer ")
	})
	if _, body := p.ready(t); body.Dependencies.KeySets[0].State != "present" {
		t.Fatalf("key set after recovery: %+v", body.Dependencies.KeySets[0])
	}
	if n := strings.Count(p.logs(), "id_token signing keys loaded"); n != 1 {
		t.Fatalf("recovery logged %d times, want once:\n%s", n, p.logs())
	}
}

// TestRequiredKeySetDecidesReadiness: with serve.readiness.require, a
// missing key set keeps HTTP and gRPC health not ready, naming its URL,
// until it loads.
func TestRequiredKeySetDecidesReadiness(t *testing.T) {
	keys, url := newFlakyKeys(t)
	dir := setup(t, idTokenRules)
	writeFile(t, filepath.Join(dir, "config.yaml"), idTokenConfig(url, "[key_sets]"))
	p := launchPortcullis(t, dir, "serve", "--config", "config.yaml")
	p.waitLog(t, `"msg":"listening","server":"api"`)
	hc := healthpb.NewHealthClient(p.dial(t))

	code, body := p.ready(t)
	if code != 503 || !strings.Contains(body.Errors[url], "status 503") || len(body.Dependencies.KeySets) != 1 || !body.Dependencies.KeySets[0].Required {
		t.Fatalf("ready with a required key set missing: %d %+v", code, body)
	}
	if st := p.grpcHealth(t, hc); st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health with a required key set missing: %v", st)
	}
	keys.up()
	p.waitReady(t)
	if st := p.grpcHealth(t, hc); st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health once the key set loaded: %v", st)
	}
}
