package e2e

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpCollector is an OTLP/HTTP trace endpoint that records the spans it
// receives as "trace-id name".
type otlpCollector struct {
	mu    sync.Mutex
	spans []string
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, hex.EncodeToString(s.GetTraceId())+" "+s.GetName())
			}
		}
	}
	c.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestTracingExportsToOTLP runs the binary with tracing on: a check that
// carries a traceparent is exported to the collector in the caller's
// trace, with a span per handler, by the time the process has exited
// (the exporter is flushed at shutdown), and its decision line names the
// trace.
func TestTracingExportsToOTLP(t *testing.T) {
	col := &otlpCollector{}
	srv := httptest.NewServer(col)
	defer srv.Close()
	dir := setup(t, allowRules)
	writeFile(t, filepath.Join(dir, "config.yaml"), config+`
tracing:
  provider: otel
  service_name: portcullis-e2e
  providers:
    otlp:
      server_url: `+srv.Listener.Addr().String()+`
      insecure: true
      sampling: {sampling_ratio: 0}
`)
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml", "--drain", "0s")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	c := authv3.NewAuthorizationClient(p.dial(t))
	// Sampled by the caller, so traced although the ratio is 0.
	if o := check(t, c, envoyRequest("GET", "/public/items/1", map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}, false)); o.status != 200 {
		t.Fatalf("status %d, want 200", o.status)
	}
	// A new trace at ratio 0: not exported.
	if o := check(t, c, envoyRequest("GET", "/public/items/2", nil, false)); o.status != 200 {
		t.Fatalf("status %d, want 200", o.status)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	col.mu.Lock()
	got := slices.Sorted(slices.Values(col.spans))
	col.mu.Unlock()
	want := []string{traceID + " authenticator anonymous", traceID + " authorizer allow", traceID + " check", traceID + " mutator header"}
	if !slices.Equal(got, want) {
		t.Errorf("exported spans %q, want %q", got, want)
	}
	var traced int
	for _, l := range lines(p.logs()) {
		if strings.Contains(l, `"msg":"decision"`) && strings.Contains(l, `"trace_id":"`+traceID+`"`) {
			traced++
		}
	}
	if traced != 1 {
		t.Errorf("%d decision lines name trace %s, want 1:\n%s", traced, traceID, p.logs())
	}
}
