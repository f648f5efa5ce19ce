package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

const xdsInstanceConfig = `
access_rules:
  repositories: ["xds://%s?node=%s"]
authenticators:
  anonymous: {enabled: true}
authorizers:
  allow: {enabled: true}
mutators:
  noop: {enabled: true}
log: {level: info, format: json}
`

// xdsRule is a rule the instances accept; with authorizer deny (disabled
// on the instances, valid for the control plane) they reject it.
func xdsRule(id, authorizer string) string {
	return fmt.Sprintf(`- id: %s
  match: {url: "https://api.test/%s/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: %s}
  mutators: [{handler: noop}]
`, id, id, authorizer)
}

// startControlPlane runs `portcullis control-plane` on fixed addresses
// (so that a restart keeps them) and waits until it serves.
func startControlPlane(t *testing.T, dir, listen, metrics string) *process {
	t.Helper()
	p := &process{grpcAddr: listen, metricsAddr: metrics, done: make(chan error, 1)}
	p.cmd = exec.Command(binary, "control-plane", "--rules", "rules", "--listen", listen, "--metrics", metrics)
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	w := writerFunc(func(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) })
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
		}
		if t.Failed() {
			t.Logf("control plane output:\n%s", p.logs())
		}
	})
	eventually(t, "the control plane to serve", func() bool {
		select {
		case err := <-p.done:
			t.Fatalf("control plane exited: %v\n%s", err, p.logs())
		default:
		}
		resp, err := http.Get("http://" + metrics + "/debug/rules")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return p
}

func getBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// debugRules is the part of /debug/rules the tests read.
type debugRules struct {
	Version string `json:"version"`
	Status  struct {
		Version   string
		LastError string
	} `json:"status"`
	Rules []struct {
		ID string `json:"id"`
	} `json:"rules"`
}

func (p *process) rules(t *testing.T) debugRules {
	t.Helper()
	var d debugRules
	if err := json.Unmarshal(getBody(t, "http://"+p.metricsAddr+"/debug/rules"), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d debugRules) has(id string) bool {
	return slices.ContainsFunc(d.Rules, func(r struct {
		ID string `json:"id"`
	}) bool {
		return r.ID == id
	})
}

// metric reads one unlabelled sample from a /metrics page.
func metric(t *testing.T, addr, name string) string {
	t.Helper()
	for _, l := range lines(string(getBody(t, "http://"+addr+"/metrics"))) {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	return ""
}

func allowed(t *testing.T, p *process, path string) bool {
	t.Helper()
	o := check(t, authv3.NewAuthorizationClient(p.dial(t)), envoyRequest("GET", path, nil, false))
	return o.status == 200
}

// TestControlPlaneFeedsInstances runs `portcullis control-plane` and two
// `serve` instances with an xds:// repository, as separate processes.
func TestControlPlaneFeedsInstances(t *testing.T) {
	dir := t.TempDir()
	rulesDir := filepath.Join(dir, "rules")
	if err := os.Mkdir(rulesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rulesDir, "public.yaml"), xdsRule("public", "allow"))
	writeFile(t, filepath.Join(rulesDir, "extra.yaml"), "[]")
	listen, cpMetrics := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cp := startControlPlane(t, dir, listen, cpMetrics)
	instance := func(name string) *process {
		writeFile(t, filepath.Join(dir, name+".yaml"), fmt.Sprintf(xdsInstanceConfig, listen, name))
		return startPortcullis(t, dir, "serve", "-c", name+".yaml") // ready = first set applied
	}
	a, b := instance("a"), instance("b")
	version := a.rules(t).Version
	if version == "" || b.rules(t).Version != version || !allowed(t, a, "/public/x") {
		t.Fatalf("instances on %q and %q", version, b.rules(t).Version)
	}

	// A change reaches both: 20 times, timed from the write to both
	// serving it (the control plane's 200ms file debounce included).
	var took []time.Duration
	for i := range 20 {
		id := fmt.Sprintf("change-%d", i)
		start := time.Now()
		writeFile(t, filepath.Join(rulesDir, "extra.yaml"), xdsRule(id, "allow"))
		for _, p := range []*process{a, b} {
			eventually(t, id+" on every instance", func() bool { return p.rules(t).has(id) })
		}
		took = append(took, time.Since(start))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("propagation over %d changes to 2 instances: median %v, max %v", len(took), took[len(took)/2], took[len(took)-1])
	version = a.rules(t).Version
	if b.rules(t).Version != version || !allowed(t, a, "/change-19/x") || !allowed(t, b, "/change-19/x") {
		t.Fatalf("instances on %q and %q", version, b.rules(t).Version)
	}
	// The version is in the decision log and a metric.
	a.waitLog(t, `"rules_version":"`+version+`"`)
	if got := metric(t, a.metricsAddr, `portcullis_rules_version_info{version="`+version+`"}`); got != "1" {
		t.Errorf("portcullis_rules_version_info for %s: %q", version, got)
	}

	// A set the control plane accepts but the instances' config does not
	// (authorizer deny is disabled there): both NACK and keep serving.
	writeFile(t, filepath.Join(rulesDir, "extra.yaml"), xdsRule("denied", "deny"))
	eventually(t, "a NACK from each instance", func() bool { return metric(t, cpMetrics, "portcullis_xds_nacks_total") == "2" })
	for _, p := range []*process{a, b} {
		d := p.rules(t)
		if d.Version != version || !strings.Contains(d.Status.LastError, `(id "denied"): authorizer (deny)`) {
			t.Errorf("after the NACK: version %q (want %q), last error %q", d.Version, version, d.Status.LastError)
		}
	}
	if !strings.Contains(cp.logs(), "node rejected rules") {
		t.Error("the control plane did not log the NACKs")
	}

	// The control plane dies: the instances keep serving their rules.
	if err := cp.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-cp.done
	for _, p := range []*process{a, b} {
		eventually(t, "the instance to notice", func() bool {
			_, body := p.ready(t)
			return strings.Contains(string(getBody(t, "http://"+p.apiAddr+"/health/ready")), `"connected":false`) && body.Status == "ok"
		})
		if !allowed(t, p, "/change-19/x") {
			t.Error("an instance stopped serving its rules without the control plane")
		}
	}

	// Changed while it was down, then restarted: both resync.
	writeFile(t, filepath.Join(rulesDir, "extra.yaml"), xdsRule("after-restart", "allow"))
	startControlPlane(t, dir, listen, cpMetrics)
	for _, p := range []*process{a, b} {
		eventually(t, "the instance to resync", func() bool { return p.rules(t).has("after-restart") })
	}
	version = a.rules(t).Version

	// A new instance joins and gets the current version.
	if c := instance("c"); c.rules(t).Version != version {
		t.Errorf("new instance on %q, the others on %q", c.rules(t).Version, version)
	}
}

func TestControlPlaneRefusesInvalidRulesAtStartup(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rules.yaml"), xdsRule("typo", "allow")+"  authorizers: []\n  mutator: x\n")
	out, code := run(t, dir, "control-plane", "--rules", "rules.yaml", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, `portcullis: no valid rules, not serving: rules.yaml:7: rules[0] (id "typo"): unknown field "mutator"`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
