package authz_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/portcullis-authz/portcullis/authz"
)

// keySetsCheck is a dependency whose problems a test sets.
type keySetsCheck struct {
	mu       sync.Mutex
	problems map[string]string
}

func (k *keySetsCheck) set(p map[string]string) {
	k.mu.Lock()
	k.problems = p
	k.mu.Unlock()
}

func (k *keySetsCheck) check() authz.DependencyStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	detail := []string{}
	for url := range k.problems {
		detail = append(detail, url)
	}
	return authz.DependencyStatus{Detail: map[string]any{"missing": detail}, Problems: k.problems}
}

// readyServers serves one Readiness on the HTTP API and on gRPC health.
type readyServers struct {
	api    *httptest.Server
	health healthpb.HealthClient
	grpc   *authz.GRPCServer
}

func serveReadiness(t *testing.T, st authz.Snapshots, r *authz.Readiness, stopTimeout time.Duration) (*readyServers, func()) {
	t.Helper()
	api := httptest.NewServer(authz.NewAPIHandler(st, nil, authz.APIOptions{Readiness: r}))
	t.Cleanup(api.Close)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := authz.NewGRPCServer(authz.NewChecker(st, zap.NewNop(), nil, testBudget), zap.NewNop(), authz.GRPCOptions{Readiness: r, StopTimeout: stopTimeout})
	srv.SetServing(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(func() { conn.Close(); stop() })
	return &readyServers{api: api, health: healthpb.NewHealthClient(conn), grpc: srv}, stop
}

// ready returns the /health/ready status and body, and the gRPC health
// status of both service names, which must agree with each other.
func (s *readyServers) ready(t *testing.T) (int, map[string]any, healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	resp, err := http.Get(s.api.URL + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("body %s: %v", b, err)
	}
	var grpcStatus healthpb.HealthCheckResponse_ServingStatus
	for i, svc := range []string{"", authz.AuthorizationService} {
		r, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && r.Status != grpcStatus {
			t.Fatalf("health %q says %v, %q says %v", "", grpcStatus, svc, r.Status)
		}
		grpcStatus = r.Status
	}
	return resp.StatusCode, body, grpcStatus
}

// TestReadinessSameOnEveryFrontDoor walks readiness through its inputs:
// rules, a dependency with problems (reported, not blocking, unless
// required by check name or by problem key) and shutdown. HTTP and gRPC
// health agree at every step, and the body keeps Oathkeeper's shape.
func TestReadinessSameOnEveryFrontDoor(t *testing.T) {
	st := &store{}
	r := authz.NewReadiness(st)
	keys := &keySetsCheck{}
	r.AddCheck("key_sets", keys.check)
	s, _ := serveReadiness(t, st, r, time.Second)
	const idp = "https://idp.test/jwks.json"

	steps := []struct {
		name       string
		do         func()
		wantStatus int
		wantErrors []string
	}{
		{name: "no rules yet", do: func() {}, wantStatus: 503, wantErrors: []string{"rules_loaded"}},
		{name: "rules loaded", do: func() { st.s.Store(snapshot(t)) }, wantStatus: 200},
		{name: "a key set is missing: reported, still ready", do: func() { keys.set(map[string]string{idp: "missing: status 404"}) }, wantStatus: 200},
		{name: "that key set required by URL", do: func() { r.SetRequired([]string{idp}) }, wantStatus: 503, wantErrors: []string{idp}},
		{name: "another key set required", do: func() { r.SetRequired([]string{"https://other.test/jwks"}) }, wantStatus: 200},
		{name: "every key set required by check name", do: func() { r.SetRequired([]string{"key_sets"}) }, wantStatus: 503, wantErrors: []string{idp}},
		{name: "key set back", do: func() { keys.set(nil) }, wantStatus: 200},
		{name: "shutdown", do: r.StartDraining, wantStatus: 503, wantErrors: []string{"shutdown"}},
	}
	for _, step := range steps {
		step.do()
		code, body, grpcStatus := s.ready(t)
		wantGRPC := healthpb.HealthCheckResponse_SERVING
		if step.wantStatus != 200 {
			wantGRPC = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if code != step.wantStatus || grpcStatus != wantGRPC {
			t.Fatalf("%s: HTTP %d gRPC %v, want %d %v (%v)", step.name, code, grpcStatus, step.wantStatus, wantGRPC, body)
		}
		deps, _ := body["dependencies"].(map[string]any)
		if _, ok := deps["rules"]; !ok {
			t.Fatalf("%s: no rules dependency in %v", step.name, body)
		}
		if _, ok := deps["key_sets"]; !ok {
			t.Fatalf("%s: no key_sets dependency in %v", step.name, body)
		}
		if code == 200 {
			if body["status"] != "ok" || body["errors"] != nil {
				t.Fatalf("%s: body %v", step.name, body)
			}
			continue
		}
		errs, _ := body["errors"].(map[string]any)
		if len(errs) != len(step.wantErrors) {
			t.Fatalf("%s: errors %v, want keys %v", step.name, errs, step.wantErrors)
		}
		for _, k := range step.wantErrors {
			if msg, _ := errs[k].(string); msg == "" {
				t.Fatalf("%s: errors %v, want key %q with a reason", step.name, errs, k)
			}
		}
	}
}

// TestHealthWatchFollowsReadinessAndEndsOnStop: a Watch stream sees every
// flip, and stopping the server ends it instead of holding the graceful
// stop until its timeout.
func TestHealthWatchFollowsReadinessAndEndsOnStop(t *testing.T) {
	st := &store{}
	r := authz.NewReadiness(st)
	s, stop := serveReadiness(t, st, r, time.Hour)
	stream, err := s.health.Watch(context.Background(), &healthpb.HealthCheckRequest{Service: authz.AuthorizationService})
	if err != nil {
		t.Fatal(err)
	}
	next := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		resp, err := stream.Recv()
		if err != nil || resp.Status != want {
			t.Fatalf("watch got %v %v, want %v", resp, err, want)
		}
	}
	next(healthpb.HealthCheckResponse_NOT_SERVING)
	st.s.Store(snapshot(t))
	r.Notify() // what the store's OnChange hook does
	next(healthpb.HealthCheckResponse_SERVING)
	r.StartDraining()
	next(healthpb.HealthCheckResponse_NOT_SERVING)

	stop() // would wait an hour for the open stream without endWatches
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("stream after stop: %v, want Unavailable", err)
	}
}

func TestHealthUnknownService(t *testing.T) {
	st := &store{}
	s, _ := serveReadiness(t, st, authz.NewReadiness(st), time.Second)
	_, err := s.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "other.Service"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("err = %v, want NotFound", err)
	}
}

// TestAPIAnswersWhileDrainingAndClosesConnections: during the drain delay
// the API still answers, telling keep-alive clients to reconnect elsewhere.
func TestAPIAnswersWhileDrainingAndClosesConnections(t *testing.T) {
	st := &store{}
	st.s.Store(snapshot(t))
	r := authz.NewReadiness(st)
	c := authz.NewChecker(st, zap.NewNop(), nil, testBudget)
	api := httptest.NewServer(authz.NewAPIHandler(st, nil, authz.APIOptions{Readiness: r, Decisions: c.Decisions(authz.DecisionsOptions{})}))
	defer api.Close()
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, api.URL+path, nil)
		req.Header.Set("X-Forwarded-Host", "api.test")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := get("/decisions/public/1"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before drain: %d close=%v", resp.StatusCode, resp.Close)
	}
	r.StartDraining()
	if resp := get("/decisions/public/1"); resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("while draining: %d close=%v, want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if resp := get("/health/ready"); resp.StatusCode != 503 {
		t.Fatalf("ready while draining: %d", resp.StatusCode)
	}
	if resp := get("/health/alive"); resp.StatusCode != 200 {
		t.Fatalf("alive while draining: %d", resp.StatusCode)
	}
}
