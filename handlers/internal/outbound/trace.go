package outbound

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName is the instrumentation scope of remote-call spans.
const tracerName = "github.com/portcullis-authz/portcullis/outbound"

// traced reports whether ctx belongs to a traced check: tracing is on and
// the check's span (recorded or sampled out) is in ctx.
func traced(ctx context.Context) bool { return trace.SpanContextFromContext(ctx).IsValid() }

// startSpan starts the client span of one call, with the tracer provider
// of the check's span (so nothing is wired per handler), and writes its
// W3C trace context on req, replacing what an earlier attempt of a
// retried call wrote. The span carries the method, host, port and status:
// never the path or query, which may hold a credential.
func startSpan(ctx context.Context, req *http.Request) (context.Context, func(status int, err error)) {
	host, port := req.URL.Hostname(), req.URL.Port()
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", host),
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	ctx, span := trace.SpanFromContext(ctx).TracerProvider().Tracer(tracerName).Start(ctx, req.Method,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Del("tracestate") // an earlier attempt's, if any
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	return ctx, func(status int, err error) {
		if status > 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		switch {
		case err != nil:
			span.SetStatus(codes.Error, callErrorType(err))
		case status >= 500:
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
		span.End()
	}
}

// callErrorType is a short, credential-free description of a failed call.
func callErrorType(err error) string {
	var ne net.Error
	switch {
	case IsTimeout(err):
		return "timeout"
	case errors.Is(err, ErrRedirect):
		return "redirect"
	case errors.Is(err, ErrBodyTooLarge):
		return "body_too_large"
	case errors.As(err, &ne):
		return "network"
	}
	return "error"
}

// statusOf is resp's status, 0 without a response (a refused redirect is
// an error wrapping ErrRedirect, with no response).
func statusOf(resp *Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
