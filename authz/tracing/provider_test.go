package tracing_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/authz/tracing"
)

// collector records the OTLP exports it receives.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string // span names, in order
	auth  []string // Authorization of each export
	attrs []string // service.name of each resource
}

func (c *collector) record(req *coltracepb.ExportTraceServiceRequest, auth string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth = append(c.auth, auth)
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			c.attrs = append(c.attrs, a.GetKey()+"="+a.GetValue().GetStringValue())
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.names = append(c.names, s.GetName())
			}
		}
	}
}

// Export implements the OTLP gRPC trace service.
func (c *collector) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.record(req, strings.Join(md.Get("authorization"), ","))
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// ServeHTTP implements the OTLP/HTTP protobuf trace endpoint.
func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.record(req, r.Header.Get("Authorization"))
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// TestNewExportsOnShutdown runs the provider against a real OTLP collector
// on 127.0.0.1 over each protocol: a span ended before Shutdown is
// exported by it (the flush at exit), with the service name and the
// configured Authorization header.
func TestNewExportsOnShutdown(t *testing.T) {
	for _, protocol := range []string{tracing.ProtocolHTTP, tracing.ProtocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			col := &collector{}
			var addr string
			if protocol == tracing.ProtocolHTTP {
				srv := httptest.NewServer(col)
				t.Cleanup(srv.Close)
				addr = srv.Listener.Addr().String()
			} else {
				lis, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				coltracepb.RegisterTraceServiceServer(gs, col)
				go func() { _ = gs.Serve(lis) }()
				t.Cleanup(gs.Stop)
				addr = lis.Addr().String()
			}
			cfg := tracing.Config{Provider: tracing.ProviderOTel, ServiceName: "portcullis-test", Providers: tracing.Providers{OTLP: tracing.OTLP{
				ServerURL: addr, Protocol: protocol, Insecure: true, Sampling: tracing.Sampling{SamplingRatio: 1},
				AuthorizationHeader: "Bearer collector-token",
			}}}
			tp, err := tracing.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, span := tp.Tracer("test").Start(context.Background(), "check")
			span.End()
			if err := tp.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			col.mu.Lock()
			defer col.mu.Unlock()
			if len(col.names) != 1 || col.names[0] != "check" {
				t.Errorf("exported spans %q, want [check]", col.names)
			}
			if len(col.auth) != 1 || col.auth[0] != "Bearer collector-token" {
				t.Errorf("exports carried Authorization %q", col.auth)
			}
			if !strings.Contains(strings.Join(col.attrs, " "), "service.name=portcullis-test") {
				t.Errorf("resource %q lacks the service name", col.attrs)
			}
		})
	}
}

// TestNewOff checks that tracing off builds nothing and that New refuses
// a config that did not validate, naming the key.
func TestNewOff(t *testing.T) {
	for _, provider := range []string{"", tracing.ProviderJaeger, tracing.ProviderZipkin} {
		tp, err := tracing.New(tracing.Config{Provider: provider}, nil)
		if tp != nil || err != nil {
			t.Errorf("provider %q: got %v, %v; want no provider", provider, tp, err)
		}
	}
	_, err := tracing.New(tracing.Config{Provider: tracing.ProviderOTel, ServiceName: "x", Providers: tracing.Providers{OTLP: tracing.OTLP{Protocol: "http"}}}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "tracing.providers.otlp.server_url: ") {
		t.Errorf("error %v, want one naming tracing.providers.otlp.server_url", err)
	}
}
