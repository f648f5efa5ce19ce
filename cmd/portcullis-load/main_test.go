package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
	svcconfig "github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

func TestMain(m *testing.M) {
	// compare re-executes its own binary as the server children: in
	// tests, that binary is this one.
	if len(os.Args) > 1 && os.Args[1] == serveArg {
		if err := serveChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

const loadRules = `
- id: public
  match: {url: "<http|https>://demo/public<(/.*)?>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
`

// serveLoad runs an in-process authz gRPC server with loadRules on a
// loopback port and returns its address.
func serveLoad(t *testing.T) string {
	t.Helper()
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	cfg, _, err := svcconfig.Load("load.yaml", []byte(`
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators: {header: {enabled: true}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("rules.yaml", []byte(loadRules))
	if err != nil {
		t.Fatal(err)
	}
	store := rulestore.NewStore(cfg.Pipeline(), reg, zap.NewNop())
	if err := store.Apply(specs, "v1"); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A check under -race on a busy machine can outlast the default
	// check_timeout (180ms) and be denied with reason deadline: these
	// tests count outcomes, so no check may end for lack of time.
	checker := authz.NewChecker(store, zap.NewNop(), nil, authz.WithBudget(time.Minute, authz.DefaultDeadlineMargin))
	srv := authz.NewGRPCServer(checker, zap.NewNop(), authz.GRPCOptions{StopTimeout: time.Second})
	srv.SetServing(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return lis.Addr().String()
}

func TestLoadRunsAndCountsOutcomes(t *testing.T) {
	addr := serveLoad(t)
	tests := []struct {
		name    string
		path    string
		raw     bool
		rps     int
		allowed bool   // else every call is denied with deny
		deny    string // key in report.Denied
	}{
		{name: "headers map", path: "/public/x", allowed: true},
		{name: "header_map", path: "/public/x?q=1", raw: true, allowed: true},
		{name: "no rule is a 404 denial", path: "/nowhere", deny: "PERMISSION_DENIED/404"},
		{name: "rate limited", path: "/public/x", rps: 200, allowed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config{Addr: addr, Duration: time.Second, Concurrency: 4, RPS: tt.rps, Raw: tt.raw,
				Method: "GET", Host: "demo", Path: tt.path, Headers: headerFlag{{"user-agent", "load-test"}}}
			rep, err := run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			rep.print(&out)
			t.Logf("\n%s", out.String())

			if rep.Total() == 0 || len(rep.Errors) != 0 {
				t.Fatalf("total %d, errors %v", rep.Total(), rep.Errors)
			}
			if tt.allowed && (rep.Allowed != rep.Total() || len(rep.Denied) != 0) {
				t.Fatalf("allowed %d of %d, denied %v", rep.Allowed, rep.Total(), rep.Denied)
			}
			if !tt.allowed && (rep.Allowed != 0 || rep.Denied[tt.deny] != rep.Total()) {
				t.Fatalf("allowed %d, denied %v, want all %s", rep.Allowed, rep.Denied, tt.deny)
			}
			// The pacer's schedule bounds the calls from above whatever
			// the machine's speed; how many it reaches depends on how fast
			// the server answers, so no lower bound is asserted.
			if tt.rps > 0 && rep.Total() > tt.rps+tt.rps/10 {
				t.Fatalf("%d calls in 1s at -rps %d", rep.Total(), tt.rps)
			}
			// The run ends at the duration; calls still in flight may
			// finish after it, so only the lower bound is exact.
			if rep.Elapsed < c.Duration {
				t.Fatalf("ran for %v, want at least %v", rep.Elapsed, c.Duration)
			}
			if p50, top := rep.Percentile(50), rep.Percentile(100); p50 <= 0 || p50 > top {
				t.Fatalf("p50 %v, max %v", p50, top)
			}
		})
	}
}

func TestLoadRefusesNonLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{
		"10.0.0.1:9191", "192.0.2.1:9191", "0.0.0.0:9191", ":9191", "[::]:9191",
		"[2001:db8::1]:9191", "[fe80::1%lo]:9191", "example.com:9191",
		"dns://8.8.8.8/127.0.0.1:9191", "127.0.0.1", "unix:///tmp/portcullis.sock",
	} {
		t.Run(addr, func(t *testing.T) {
			c := config{Addr: addr, Duration: time.Second, Concurrency: 1, Method: "GET", Host: "demo", Path: "/"}
			rep, err := run(context.Background(), c)
			if err == nil || !strings.Contains(err.Error(), "only loopback targets") {
				t.Fatalf("run(%q) = %v, %v; want a refusal", addr, rep, err)
			}
		})
	}
	for _, addr := range []string{"127.0.0.1:9191", "127.8.9.10:1", "[::1]:9191", "localhost:9191", "[::ffff:127.0.0.1]:9191"} {
		if _, err := loopbackAddr(context.Background(), addr); err != nil {
			t.Errorf("loopbackAddr(%q): %v", addr, err)
		}
	}
}

func TestLoadRefusesBadFlags(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config)
		want string
	}{
		{"duration over the hard max", func(c *config) { c.Duration = MaxDuration + time.Second }, "duration"},
		{"no concurrency", func(c *config) { c.Concurrency = 0 }, "concurrency"},
		{"negative rps", func(c *config) { c.RPS = -1 }, "rps"},
		{"relative path", func(c *config) { c.Path = "x" }, "path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config{Addr: "127.0.0.1:1", Duration: time.Second, Concurrency: 1, Method: "GET", Host: "demo", Path: "/"}
			tt.edit(&c)
			if _, err := run(context.Background(), c); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestLoadHTTPMode calls a decision API stand-in over keep-alive
// connections: each call is GET /decisions<path> with the Host and
// headers asked for, 200 counts as allowed and any other status as a
// denial under "HTTP <status>".
func TestLoadHTTPMode(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{} // "host path header" → calls
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Host+" "+r.RequestURI+" "+r.Header.Get("X-Tenant")]++
		conns[r.RemoteAddr] = true
		mu.Unlock()
		if r.URL.Path != "/decisions/public/x" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("body the client must read"))
	}))
	defer srv.Close()
	tests := []struct {
		path    string
		allowed bool
	}{
		{"/public/x", true},
		{"/private/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			mu.Lock()
			clear(seen)
			clear(conns)
			mu.Unlock()
			c := config{Addr: srv.Listener.Addr().String(), Duration: 200 * time.Millisecond, Concurrency: 3, HTTP: true,
				Method: "GET", Host: "demo", Path: tt.path, Headers: headerFlag{{"x-tenant", "acme"}}}
			rep, err := run(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Total() == 0 || len(rep.Errors) != 0 {
				t.Fatalf("total %d, errors %v", rep.Total(), rep.Errors)
			}
			if tt.allowed && rep.Allowed != rep.Total() || !tt.allowed && rep.Denied["HTTP 401"] != rep.Total() {
				t.Fatalf("allowed %d of %d, denied %v", rep.Allowed, rep.Total(), rep.Denied)
			}
			mu.Lock()
			defer mu.Unlock()
			if want := "demo /decisions" + tt.path + " acme"; seen[want] != rep.Total() || len(seen) != 1 {
				t.Fatalf("server saw %v, want %d × %q", seen, rep.Total(), want)
			}
			// Keep-alive: connections are reused, at most one per worker.
			if len(conns) > c.Concurrency {
				t.Fatalf("%d connections for %d workers", len(conns), c.Concurrency)
			}
		})
	}
}
