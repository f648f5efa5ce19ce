package outbound

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/portcullis-authz/portcullis/pipeline"
)

const (
	testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	testTracestate  = "vendor=opaque"
)

// TestDoTraceContext checks which trace context a remote call sends: the
// checked request's, unchanged, when tracing is off; the call's own span,
// child of the check's, when it is on, also on the second attempt of a
// retried request.
func TestDoTraceContext(t *testing.T) {
	got := make(chan http.Header, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	defer srv.Close()
	c := New(Options{})
	in := &pipeline.Request{Header: pipeline.Header{"traceparent": {testTraceparent}, "tracestate": {testTracestate}}}

	t.Run("tracing off", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/keys?token=s3cr3t", nil)
		if _, err := c.Do(context.Background(), req, in); err != nil {
			t.Fatal(err)
		}
		h := <-got
		if h.Get("traceparent") != testTraceparent || h.Get("tracestate") != testTracestate {
			t.Errorf("sent traceparent %q tracestate %q, want the checked request's", h.Get("traceparent"), h.Get("tracestate"))
		}
	})

	t.Run("tracing on", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		ctx, check := tp.Tracer("test").Start(context.Background(), "check")
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/introspect?token=s3cr3t", nil)
		for attempt := range 2 { // a retry resends the same request
			if _, err := c.Do(ctx, req, in); err != nil {
				t.Fatal(err)
			}
			h := <-got
			spans := exp.GetSpans()
			if len(spans) != attempt+1 {
				t.Fatalf("%d spans after attempt %d", len(spans), attempt+1)
			}
			call := spans[attempt]
			want := "00-" + check.SpanContext().TraceID().String() + "-" + call.SpanContext.SpanID().String() + "-01"
			if h.Get("traceparent") != want {
				t.Errorf("attempt %d sent traceparent %q, want the call span's %q", attempt+1, h.Get("traceparent"), want)
			}
			if call.Name != "POST" || call.Parent.SpanID() != check.SpanContext().SpanID() {
				t.Errorf("span %q with parent %s, want POST under the check span", call.Name, call.Parent.SpanID())
			}
			for _, kv := range call.Attributes {
				if v := kv.Value.Emit(); strings.Contains(v, "introspect") || strings.Contains(v, "s3cr3t") {
					t.Errorf("attribute %s=%q leaks the URL", kv.Key, v)
				}
			}
		}
		check.End()
	})

	t.Run("failed call", func(t *testing.T) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		defer func() { _ = tp.Shutdown(context.Background()) }()
		ctx, check := tp.Tracer("test").Start(context.Background(), "check")
		defer check.End()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close() // nothing listens: connection refused
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/x?token=s3cr3t", nil)
		if _, err := c.Do(ctx, req, nil); err == nil {
			t.Fatal("call to a closed port succeeded")
		}
		spans := exp.GetSpans()
		if len(spans) != 1 || spans[0].Status.Code != codes.Error || spans[0].Status.Description != "network" {
			t.Errorf("spans %+v, want one with status error network", spans)
		}
	})
}
