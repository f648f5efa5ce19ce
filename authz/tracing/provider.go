package tracing

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
)

// New returns the tracer provider c asks for, exporting in batches to the
// OTLP collector, or nil when tracing is off. The exporter connects
// lazily: a collector that is down costs dropped spans (logged to log),
// never a failed start or a slower check. The caller must Shutdown the
// provider, which flushes what is buffered.
func New(c Config, log *zap.Logger) (*sdktrace.TracerProvider, error) {
	if !c.Enabled() {
		return nil, nil
	}
	if err := firstError(c.Validate()); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	exp, err := newExporter(c.Providers.OTLP)
	if err != nil {
		return nil, fmt.Errorf("tracing.providers.otlp: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", c.ServiceName)}
	if c.DeploymentEnvironment != "" {
		attrs = append(attrs, attribute.String("deployment.environment.name", c.DeploymentEnvironment))
	}
	// Export failures surface through the global handler; without this
	// they would go to the standard logger, unstructured.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing export failed", zap.Error(err))
	}))
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(Sampler(c.Providers.OTLP.Sampling.SamplingRatio)),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	), nil
}

// Sampler is the sampler of a provider: a request whose traceparent
// carries a sampling decision keeps it, and new traces are sampled at
// ratio (0 to 1).
func Sampler(ratio float64) sdktrace.Sampler {
	return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
}

func newExporter(o OTLP) (sdktrace.SpanExporter, error) {
	var headers map[string]string
	if o.AuthorizationHeader != "" {
		headers = map[string]string{"Authorization": o.AuthorizationHeader}
	}
	// The exporters read OTEL_EXPORTER_OTLP_* from the environment too;
	// options given here win over them.
	if o.Protocol == ProtocolGRPC {
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(o.ServerURL)}
		if o.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if headers != nil {
			opts = append(opts, otlptracegrpc.WithHeaders(headers))
		}
		return otlptracegrpc.New(context.Background(), opts...)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(o.ServerURL)}
	if o.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if headers != nil {
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	return otlptracehttp.New(context.Background(), opts...)
}

func firstError(errs []error) error {
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}
