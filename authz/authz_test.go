package authz_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// regexp2's clock goroutine serves match timeouts of backtracking rules
// (lookahead) and stops on its own about a second after the last match.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

const rules = `
- id: public
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators:
    - handler: header
      config: {headers: {X-User: "{{ print .Subject }}"}}
- id: admin
  match: {url: "https://api.test/admin/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: noop}]
- id: panics
  match: {url: "https://api.test/panic", methods: [GET]}
  authenticators: [{handler: panic}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`

// testBudget is the check budget of every test that is not about the
// budget itself. The suite runs under -race on busy shared machines, where
// a check can take longer than the production check_timeout (180ms) and
// would be denied with reason deadline; a minute is never reached. The
// production margin stays, so a check whose client gives up still answers
// in band just before it.
var testBudget = authz.WithBudget(time.Minute, authz.DefaultDeadlineMargin)

type store struct {
	s atomic.Pointer[pipeline.Snapshot]
}

func (s *store) Current() *pipeline.Snapshot { return s.s.Load() }

func snapshot(t testing.TB) *pipeline.Snapshot {
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	pipeline.RegisterAuthenticator(reg, "panic", func(struct{}) (pipeline.Authenticator, error) {
		return pipeline.AuthenticatorFunc(func(context.Context, *pipeline.Request, *pipeline.Session) error { panic("boom") }), nil
	})
	cfg, _, err := config.Load("test.yaml", []byte(`
authenticators: {anonymous: {enabled: true}, panic: {enabled: true}}
authorizers: {allow: {enabled: true}, deny: {enabled: true}}
mutators: {noop: {enabled: true}, header: {enabled: true}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("rules.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	s, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs a real gRPC server on a loopback port.
func start(t *testing.T, st authz.Snapshots, log *zap.Logger) (*authz.GRPCServer, *grpc.ClientConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := authz.NewGRPCServer(authz.NewChecker(st, log, nil, testBudget), log, authz.GRPCOptions{Reflection: true, StopTimeout: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return srv, conn
}

func checkReq(method, path string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{":method": method, ":path": path, ":authority": "api.test", ":scheme": "https", "x-request-id": "req-1"}
	for k, v := range headers {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 5555}}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Path: path, Host: "api.test", Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
		}},
	}}
}

func TestCheckOverRealSocket(t *testing.T) {
	st := &store{}
	st.s.Store(snapshot(t))
	core, logs := observer.New(zap.InfoLevel)
	_, conn := start(t, st, zap.New(core))
	client := authv3.NewAuthorizationClient(conn)
	ctx := context.Background()

	tests := []struct {
		name       string
		req        *authv3.CheckRequest
		wantCode   code.Code
		wantStatus int
		check      func(t *testing.T, resp *authv3.CheckResponse)
	}{
		{name: "allow sets the identity header with append=false", req: checkReq("GET", "/public/x?token=secret", map[string]string{"x-user": "admin"}),
			wantCode: code.Code_OK, check: func(t *testing.T, resp *authv3.CheckResponse) {
				hs := resp.GetOkResponse().GetHeaders()
				if len(hs) != 1 || hs[0].GetHeader().GetKey() != "x-user" || hs[0].GetHeader().GetValue() != "anonymous" || hs[0].GetAppend() == nil || hs[0].GetAppend().GetValue() {
					t.Fatalf("headers %v", hs)
				}
				md := resp.GetDynamicMetadata().GetFields()
				if md["rule_id"].GetStringValue() != "public" {
					t.Fatalf("metadata %v", md)
				}
			}},
		{name: "deny by policy", req: checkReq("GET", "/admin/x", nil), wantCode: code.Code_PERMISSION_DENIED, wantStatus: 403},
		{name: "no rule", req: checkReq("GET", "/nowhere", nil), wantCode: code.Code_PERMISSION_DENIED, wantStatus: 404},
		{name: "method not in rule", req: checkReq("POST", "/public/x", nil), wantCode: code.Code_PERMISSION_DENIED, wantStatus: 404},
		{name: "malformed request is denied", req: &authv3.CheckRequest{}, wantStatus: 400},
		{name: "traversal is normalised before matching", req: checkReq("GET", "/public/../admin/x", nil), wantCode: code.Code_PERMISSION_DENIED, wantStatus: 403},
		{name: "encoded slash is rejected", req: checkReq("GET", "/public/..%2Fadmin/x", nil), wantStatus: 400},
		{name: "panic in a handler is a gRPC error, not an allow", req: checkReq("GET", "/panic", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Check(ctx, tt.req)
			if strings.HasPrefix(tt.name, "panic") {
				if err == nil {
					t.Fatalf("want gRPC error, got %v", resp)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantStatus != 0 {
				if resp.GetStatus().GetCode() == int32(code.Code_OK) || int(resp.GetDeniedResponse().GetStatus().GetCode()) != tt.wantStatus {
					t.Fatalf("got %v", resp)
				}
				if tt.wantCode != 0 && resp.GetStatus().GetCode() != int32(tt.wantCode) {
					t.Fatalf("code %d, want %d", resp.GetStatus().GetCode(), tt.wantCode)
				}
				return
			}
			if resp.GetStatus().GetCode() != int32(code.Code_OK) {
				t.Fatalf("got %v", resp)
			}
			tt.check(t, resp)
		})
	}

	// One decision line per request, with stable keys and no query string.
	lines := logs.FilterMessage("decision").All()
	if len(lines) != len(tests)-1 {
		t.Fatalf("%d decision lines for %d checks", len(lines), len(tests)-1)
	}
	first := lines[0].ContextMap()
	for _, k := range []string{"decision", "rule_id", "reason", "duration_ms", "request_id", "status"} {
		if _, ok := first[k]; !ok {
			t.Errorf("decision line lacks %q: %v", k, first)
		}
	}
	for _, l := range logs.All() {
		b, _ := json.Marshal(l.ContextMap())
		if strings.Contains(string(b), "secret") {
			t.Errorf("log line leaks the query: %s", b)
		}
	}
}

func TestHealthFollowsSnapshotAndDrain(t *testing.T) {
	st := &store{}
	srv, conn := start(t, st, zap.NewNop())
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	for _, svc := range []string{"", authz.AuthorizationService} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("%q before rules: %v %v", svc, resp, err)
		}
	}
	// Checks before the first snapshot fail closed, in-band.
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, checkReq("GET", "/public/x", nil))
	if err != nil || resp.GetDeniedResponse().GetStatus().GetCode() != 503 || resp.GetStatus().GetCode() != int32(code.Code_UNAVAILABLE) {
		t.Fatalf("check before rules: %v %v", resp, err)
	}
	st.s.Store(snapshot(t))
	srv.SetServing(true)
	for _, svc := range []string{"", authz.AuthorizationService} {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("%q with rules: %v %v", svc, resp, err)
		}
	}
}

func TestReflectionListsAuthorization(t *testing.T) {
	_, conn := start(t, &store{}, zap.NewNop())
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	if !strings.Contains(strings.Join(names, ","), authz.AuthorizationService) {
		t.Fatalf("services %v", names)
	}
}

func TestHTTPAPI(t *testing.T) {
	st := &store{}
	draining := false
	h := authz.NewAPIHandler(st, func() bool { return draining }, authz.APIOptions{PublicJWKS: func() ([]byte, error) { return []byte(`{"keys":[{"kid":"a"}]}`), nil }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if c, b := get("/health/alive"); c != 200 || b != `{"status":"ok"}` {
		t.Fatalf("alive %d %s", c, b)
	}
	if c, b := get("/health/ready"); c != 503 || !strings.Contains(b, `"rules_loaded"`) {
		t.Fatalf("ready before rules %d %s", c, b)
	}
	st.s.Store(snapshot(t))
	if c, b := get("/health/ready"); c != 200 || !strings.HasPrefix(b, `{"dependencies":{"rules":{"loaded":true,"rules":3}},"status":"ok"}`) {
		t.Fatalf("ready %d %s", c, b)
	}
	draining = true
	if c, _ := get("/health/ready"); c != 503 {
		t.Fatalf("ready while draining %d", c)
	}
	if c, b := get("/.well-known/jwks.json"); c != 200 || b != `{"keys":[{"kid":"a"}]}` {
		t.Fatalf("jwks %d %s", c, b)
	}
}

// BenchmarkCheck measures one in-process Check: anonymous → allow → header
// mutator, including CheckRequest translation and response encoding.
func BenchmarkCheck(b *testing.B) {
	st := &store{}
	st.s.Store(snapshot(b))
	c := authz.NewChecker(st, zap.NewNop(), nil)
	req := checkReq("GET", "/public/items/42?page=2", map[string]string{"user-agent": "bench", "accept": "*/*", "x-forwarded-proto": "https"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Check(ctx, req)
		if err != nil || resp.GetStatus().GetCode() != 0 {
			b.Fatal(resp, err)
		}
	}
}
