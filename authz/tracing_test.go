package authz_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/authz/tracing"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// traceRules are the rules of the tracing tests: a jwt/allow/header
// pipeline, and one whose authorizer calls a remote service (so that the
// handler span has a remote-call child).
const traceRules = secRuleAdm + `
- id: R-remote
  match: {url: "https://api.test/remote/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer:
    handler: remote_json
    config: {remote: "%s/check", payload: "{}"}
  mutators: [{handler: noop}]
`

// Incoming W3C trace context of the tests.
const (
	inTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	inParentID    = "00f067aa0ba902b7"
	inTraceparent = "00-" + inTraceID + "-" + inParentID + "-01"
	inTracestate  = "vendor=opaque"
)

// traceWorld is a Checker tracing into an in-memory exporter, with the
// remote authorizer's server recording the trace headers it receives.
type traceWorld struct {
	checker *authz.Checker
	spans   *tracetest.InMemoryExporter
	logs    *observer.ObservedLogs
	remote  chan http.Header
}

func newTraceWorld(t *testing.T, ratio float64, traced bool) *traceWorld {
	t.Helper()
	w := &traceWorld{spans: tracetest.NewInMemoryExporter(), remote: make(chan http.Header, 8)}
	remote := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.remote <- r.Header.Clone()
		rw.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(remote.Close)
	e := newSecEnv(t)
	_, reg, cfg := e.secBuild(t, secWorldOpts{})
	specs, err := rulestore.DecodeRules("trace-rules.yaml", []byte(fmt.Sprintf(traceRules, remote.URL)))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := pipeline.Compile(specs, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snap.Close)
	st := &secStore{}
	st.p.Store(snap)
	core, logs := observer.New(zap.InfoLevel)
	w.logs = logs
	var opts []authz.CheckerOption
	if traced {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(w.spans), sdktrace.WithSampler(tracing.Sampler(ratio)))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		opts = append(opts, authz.WithTracer(tp))
	}
	w.checker = authz.NewChecker(st, zap.New(core), nil, opts...)
	return w
}

func (w *traceWorld) check(t *testing.T, path string, headers map[string]string) *authv3.CheckResponse {
	t.Helper()
	resp, err := w.checker.Check(context.Background(), secCheck("GET", "api.test", path, headers))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tree renders the exported spans as an indented tree, each with the
// attributes that matter here; children in pipeline order. Roots are the
// spans whose parent was not exported (none, or a remote parent).
func (w *traceWorld) tree() string {
	spans := w.spans.GetSpans()
	exported := map[string]bool{}
	for _, s := range spans {
		exported[s.SpanContext.SpanID().String()] = true
	}
	var b strings.Builder
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		var kids tracetest.SpanStubs
		for _, s := range spans {
			p := s.Parent.SpanID().String()
			if (depth == 0 && !exported[p]) || (depth > 0 && p == parent) {
				kids = append(kids, s)
			}
		}
		slices.SortStableFunc(kids, func(a, b tracetest.SpanStub) int { return stepOrder(a) - stepOrder(b) })
		for _, s := range kids {
			fmt.Fprintf(&b, "%s%s%s\n", strings.Repeat("  ", depth), s.Name, attrs(s.Attributes))
			walk(s.SpanContext.SpanID().String(), depth+1)
		}
	}
	walk("", 0)
	return b.String()
}

// span returns the exported span named name.
func (w *traceWorld) span(t *testing.T, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range w.spans.GetSpans() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q in\n%s", name, w.tree())
	return tracetest.SpanStub{}
}

// logTraceID is the trace_id of the one decision log line ("" without).
func (w *traceWorld) logTraceID(t *testing.T) string {
	t.Helper()
	lines := w.logs.FilterMessage("decision").All()
	if len(lines) != 1 {
		t.Fatalf("%d decision lines, want 1", len(lines))
	}
	id, _ := lines[0].ContextMap()["trace_id"].(string)
	return id
}

// stepOrder orders sibling spans as the pipeline runs them.
func stepOrder(s tracetest.SpanStub) int {
	kind, idx := "", 0
	for _, a := range s.Attributes {
		switch a.Key {
		case "portcullis.step":
			kind = a.Value.AsString()
		case "portcullis.step.index":
			idx = int(a.Value.AsInt64())
		}
	}
	return 10*slices.Index([]string{"authenticator", "authorizer", "mutator", "error_handler"}, kind) + idx
}

// attrs renders the attributes a test compares, in a fixed order.
func attrs(kvs []attribute.KeyValue) string {
	keys := []attribute.Key{"portcullis.rule_id", "portcullis.decision", "portcullis.reason", "portcullis.outcome",
		"http.response.status_code", "http.request.method", "server.address"}
	var parts []string
	for _, k := range keys {
		for _, kv := range kvs {
			if kv.Key == k {
				parts = append(parts, string(k[strings.LastIndex(string(k), ".")+1:])+"="+kv.Value.Emit())
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, " ") + "]"
}

// TestTracingSpanTree checks the span of an allowed and of a denied check
// and the child span of each handler call, and that no span carries the
// path, query, token or subject.
func TestTracingSpanTree(t *testing.T) {
	tok := secToken(t, nil, nil)
	for _, tc := range []struct {
		name    string
		path    string
		headers map[string]string
		want    string
	}{{
		name:    "allowed jwt allow header",
		path:    "/admin/items?secret=q1",
		headers: secBearer(tok),
		want: `check [rule_id=R-adm decision=allow reason=allowed status_code=200 method=GET address=api.test]
  authenticator jwt [rule_id=R-adm outcome=ok]
  authorizer allow [rule_id=R-adm outcome=ok]
  mutator header [rule_id=R-adm outcome=ok]
`,
	}, {
		name: "denied without a token",
		path: "/admin/items",
		want: `check [rule_id=R-adm decision=deny reason=authentication_handler_no_match status_code=401 method=GET address=api.test]
  authenticator jwt [rule_id=R-adm outcome=skipped]
  error_handler json [rule_id=R-adm outcome=ok]
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newTraceWorld(t, 1, true)
			w.check(t, tc.path, tc.headers)
			// The JWKS fetch may or may not run under the check (the key
			// set is fetched once); the handler tree is what is compared.
			got := w.handlerTree()
			if got != tc.want {
				t.Errorf("span tree:\n%s\nwant:\n%s", got, tc.want)
			}
			for _, s := range w.spans.GetSpans() {
				for _, kv := range s.Attributes {
					v := kv.Value.Emit()
					if strings.Contains(v, "/admin") || strings.Contains(v, "secret") || strings.Contains(v, tok) || v == "alice" {
						t.Errorf("span %s attribute %s=%q leaks the request", s.Name, kv.Key, v)
					}
				}
			}
			if got, want := w.logTraceID(t), w.span(t, "check").SpanContext.TraceID().String(); got != want {
				t.Errorf("decision log trace_id = %q, want %q", got, want)
			}
		})
	}
}

// handlerTree is tree without remote-call spans (span kind client).
func (w *traceWorld) handlerTree() string {
	var out []string
	for _, line := range strings.SplitAfter(w.tree(), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "GET") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// TestTracingParentFromTraceparent checks that the check joins the trace
// of the request's traceparent (keeping its tracestate) and that the
// remote authorizer's call is a child span whose context the remote
// service receives.
func TestTracingParentFromTraceparent(t *testing.T) {
	w := newTraceWorld(t, 1, true)
	resp := w.check(t, "/remote/x", map[string]string{"traceparent": inTraceparent, "tracestate": inTracestate})
	if resp.GetStatus().GetCode() != 0 {
		t.Fatalf("denied: %v", resp)
	}
	want := `check [rule_id=R-remote decision=allow reason=allowed status_code=200 method=GET address=api.test]
  authenticator anonymous [rule_id=R-remote outcome=ok]
  authorizer remote_json [rule_id=R-remote outcome=ok]
    POST [status_code=200 method=POST address=127.0.0.1]
  mutator noop [rule_id=R-remote outcome=ok]
`
	if got := w.tree(); got != want {
		t.Errorf("span tree:\n%s\nwant:\n%s", got, want)
	}
	check := w.span(t, "check")
	if got := check.SpanContext.TraceID().String(); got != inTraceID {
		t.Errorf("trace id %s, want the traceparent's %s", got, inTraceID)
	}
	if got := check.Parent.SpanID().String(); got != inParentID || !check.Parent.IsRemote() {
		t.Errorf("parent %s (remote %v), want the traceparent's span %s", got, check.Parent.IsRemote(), inParentID)
	}
	if got := w.logTraceID(t); got != inTraceID {
		t.Errorf("decision log trace_id = %q, want %q", got, inTraceID)
	}
	call := w.span(t, "POST")
	h := <-w.remote
	if got, want := h.Get("traceparent"), "00-"+inTraceID+"-"+call.SpanContext.SpanID().String()+"-01"; got != want {
		t.Errorf("remote call traceparent = %q, want the call span's %q", got, want)
	}
	if got := h.Get("tracestate"); got != inTracestate {
		t.Errorf("remote call tracestate = %q, want %q", got, inTracestate)
	}
}

// TestTracingSampling checks the parent-based ratio sampler: ratio 0
// records no new trace, and nothing is logged as a trace id, but a
// request whose traceparent says sampled is traced, and one that says
// not sampled still propagates its trace to remote calls.
func TestTracingSampling(t *testing.T) {
	notSampled := "00-" + inTraceID + "-" + inParentID + "-00"
	for _, tc := range []struct {
		name, traceparent string
		wantSpans         bool
		wantRemote        string // prefix of the traceparent the remote service receives
	}{
		// Sampled out, the check still has a trace id, which remote
		// calls carry with the not-sampled flag.
		{name: "new trace", wantSpans: false, wantRemote: "00-"},
		{name: "parent sampled", traceparent: inTraceparent, wantSpans: true, wantRemote: "00-" + inTraceID + "-"},
		{name: "parent not sampled", traceparent: notSampled, wantSpans: false, wantRemote: "00-" + inTraceID + "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newTraceWorld(t, 0, true)
			headers := map[string]string{}
			if tc.traceparent != "" {
				headers["traceparent"] = tc.traceparent
			}
			w.check(t, "/remote/x", headers)
			if got := len(w.spans.GetSpans()) > 0; got != tc.wantSpans {
				t.Errorf("spans exported: %v, want %v:\n%s", got, tc.wantSpans, w.tree())
			}
			if id := w.logTraceID(t); (id != "") != tc.wantSpans {
				t.Errorf("decision log trace_id = %q with spans %v", id, tc.wantSpans)
			}
			got := (<-w.remote).Get("traceparent")
			if !strings.HasPrefix(got, tc.wantRemote) || len(got) != len(inTraceparent) {
				t.Errorf("remote call traceparent = %q, want prefix %q", got, tc.wantRemote)
			}
			if flag := strings.HasSuffix(got, "-01"); flag != tc.wantSpans {
				t.Errorf("remote call traceparent = %q, sampled flag %v, want %v", got, flag, tc.wantSpans)
			}
		})
	}
}

// TestTracingOffPropagatesTraceparent checks that with tracing off the
// incoming trace context still reaches remote calls unchanged and the
// decision log has no trace id.
func TestTracingOffPropagatesTraceparent(t *testing.T) {
	w := newTraceWorld(t, 1, false)
	w.check(t, "/remote/x", map[string]string{"traceparent": inTraceparent, "tracestate": inTracestate})
	h := <-w.remote
	if got := h.Get("traceparent"); got != inTraceparent {
		t.Errorf("remote call traceparent = %q, want the incoming %q", got, inTraceparent)
	}
	if got := h.Get("tracestate"); got != inTracestate {
		t.Errorf("remote call tracestate = %q, want the incoming %q", got, inTracestate)
	}
	if id := w.logTraceID(t); id != "" {
		t.Errorf("decision log trace_id = %q with tracing off", id)
	}
	if n := len(w.spans.GetSpans()); n != 0 {
		t.Errorf("%d spans with tracing off", n)
	}
}

// BenchmarkCheckTraced is BenchmarkCheck with tracing on: every check
// sampled (its span and three handler spans, exported to a no-op
// exporter) and none sampled (ratio 0, no traceparent).
func BenchmarkCheckTraced(b *testing.B) {
	for _, ratio := range []float64{1, 0} {
		b.Run(fmt.Sprintf("ratio=%v", ratio), func(b *testing.B) {
			st := &store{}
			st.s.Store(snapshot(b))
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()), sdktrace.WithSampler(tracing.Sampler(ratio)))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			c := authz.NewChecker(st, zap.NewNop(), nil, authz.WithTracer(tp))
			req := checkReq("GET", "/public/items/42?page=2", map[string]string{"user-agent": "bench", "accept": "*/*", "x-forwarded-proto": "https"})
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Check(ctx, req)
				if err != nil || resp.GetStatus().GetCode() != 0 {
					b.Fatal(resp, err)
				}
			}
		})
	}
}

// TestTracingDecisionAPI checks that the HTTP decision API traces its
// checks too, in the trace of the forwarded request's traceparent.
func TestTracingDecisionAPI(t *testing.T) {
	w := newTraceWorld(t, 0, true)
	api := httptest.NewServer(w.checker.Decisions(authz.DecisionsOptions{}))
	defer api.Close()
	req, _ := http.NewRequest(http.MethodGet, api.URL+"/decisions/remote/x", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "api.test")
	req.Header.Set("Traceparent", inTraceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	<-w.remote
	check := w.span(t, "check")
	if check.SpanContext.TraceID().String() != inTraceID || check.Parent.SpanID().String() != inParentID {
		t.Errorf("check span in trace %s under %s, want %s under %s", check.SpanContext.TraceID(), check.Parent.SpanID(), inTraceID, inParentID)
	}
	if got := w.logTraceID(t); got != inTraceID {
		t.Errorf("decision log trace_id = %q, want %q", got, inTraceID)
	}
}
