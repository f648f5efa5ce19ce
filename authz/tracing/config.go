// Package tracing builds the OpenTelemetry tracer provider of the service
// from the `tracing` config block (Oathkeeper's shape): an OTLP exporter
// over HTTP or gRPC, a parent-based ratio sampler and the service name.
// Tracing is off unless tracing.provider is "otel".
package tracing

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Providers Portcullis knows by name. Only ProviderOTel exports; Jaeger's
// agent protocol and Zipkin's JSON are not OTLP, so those two load with a
// warning (Warnings) and tracing stays off.
const (
	ProviderOTel   = "otel"
	ProviderJaeger = "jaeger"
	ProviderZipkin = "zipkin"
)

// OTLP protocols (tracing.providers.otlp.protocol).
const (
	ProtocolHTTP = "http"
	ProtocolGRPC = "grpc"
)

// DefaultServiceName is tracing.service_name when the config names none.
const DefaultServiceName = "portcullis"

// Config is the `tracing` block.
type Config struct {
	// Provider turns tracing on with "otel"; "" (the default) is off.
	Provider string `json:"provider"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `json:"service_name"`
	// DeploymentEnvironment is the deployment.environment.name resource
	// attribute, when set.
	DeploymentEnvironment string    `json:"deployment_environment"`
	Providers             Providers `json:"providers"`
}

// Providers holds the per-provider settings. Only OTLP is read; the
// jaeger and zipkin blocks are accepted with a warning by the config
// loader.
type Providers struct {
	OTLP OTLP `json:"otlp"`
}

// OTLP configures the OTLP exporter.
type OTLP struct {
	// ServerURL is the collector's host:port (as in Oathkeeper), e.g.
	// otel-collector:4318 for HTTP or otel-collector:4317 for gRPC.
	ServerURL string `json:"server_url"`
	// Protocol is "http" (default, Oathkeeper's) or "grpc".
	Protocol string `json:"protocol"`
	// Insecure sends spans without TLS.
	Insecure bool     `json:"insecure"`
	Sampling Sampling `json:"sampling"`
	// AuthorizationHeader is sent as the Authorization header of every
	// export. It is a credential: it is never logged or put in an error.
	AuthorizationHeader string `json:"authorization_header"`
}

// Sampling configures the sampler.
type Sampling struct {
	// SamplingRatio is the share of new traces (requests without a
	// sampled traceparent) that are recorded, 0 to 1 (default 1). A
	// request whose traceparent says sampled or not sampled follows it.
	SamplingRatio float64 `json:"sampling_ratio"`
}

// Defaults returns the config loader's defaults of the tracing block,
// keyed by dotted path (so that PORTCULLIS_TRACING_... overrides resolve).
func Defaults() map[string]any {
	return map[string]any{
		"tracing.provider":                               "",
		"tracing.service_name":                           DefaultServiceName,
		"tracing.deployment_environment":                 "",
		"tracing.providers.otlp.server_url":              "",
		"tracing.providers.otlp.protocol":                ProtocolHTTP,
		"tracing.providers.otlp.insecure":                false,
		"tracing.providers.otlp.sampling.sampling_ratio": 1.0,
		"tracing.providers.otlp.authorization_header":    "",
	}
}

// Enabled reports whether spans are exported.
func (c Config) Enabled() bool { return c.Provider == ProviderOTel }

// Warnings returns one line for a provider Portcullis does not export to:
// such a config loads, with tracing off.
func (c Config) Warnings() []string {
	switch c.Provider {
	case ProviderJaeger, ProviderZipkin:
		return []string{fmt.Sprintf("tracing.provider %s is not supported and tracing stays off: Portcullis exports OTLP only; "+
			"set tracing.provider: otel and tracing.providers.otlp.server_url to the collector (Jaeger and the OpenTelemetry Collector accept OTLP on 4317 gRPC / 4318 HTTP)", c.Provider)}
	}
	return nil
}

// Validate returns one error per bad key, each "key: message", so that the
// config loader can place it in the file.
func (c Config) Validate() []error {
	var errs []error
	switch c.Provider {
	case "", ProviderJaeger, ProviderZipkin:
		return nil
	case ProviderOTel:
	default:
		return []error{fmt.Errorf("tracing.provider: unknown provider %q; use otel (OTLP), or leave it empty for no tracing", c.Provider)}
	}
	if strings.TrimSpace(c.ServiceName) == "" {
		errs = append(errs, errors.New("tracing.service_name: must not be empty"))
	}
	o := c.Providers.OTLP
	if err := checkHostPort(o.ServerURL); err != nil {
		errs = append(errs, fmt.Errorf("tracing.providers.otlp.server_url: %w", err))
	}
	switch o.Protocol {
	case ProtocolHTTP, ProtocolGRPC:
	default:
		errs = append(errs, fmt.Errorf("tracing.providers.otlp.protocol: unknown protocol %q; use http or grpc", o.Protocol))
	}
	if r := o.Sampling.SamplingRatio; !(r >= 0 && r <= 1) {
		errs = append(errs, fmt.Errorf("tracing.providers.otlp.sampling.sampling_ratio: %v is not between 0 and 1", r))
	}
	return errs
}

// checkHostPort accepts host:port, as Oathkeeper's server_url.
func checkHostPort(s string) error {
	if s == "" {
		return errors.New("required when tracing.provider is otel; write the collector's host:port, e.g. otel-collector:4318")
	}
	if strings.Contains(s, "://") || strings.Contains(s, "/") {
		return fmt.Errorf("%q is not host:port; write e.g. otel-collector:4318 (insecure: true for plain HTTP/gRPC without TLS)", s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port; write e.g. otel-collector:4318", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a port number", s, port)
	}
	return nil
}
