package tracing_test

import (
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/authz/tracing"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// TestConfig loads tracing blocks through the service config loader:
// defaults, Oathkeeper's shape, providers that stay off with a warning,
// and one error line per bad key, placed in the file.
func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml  string
		env         []string
		wantOn      bool
		want        tracing.Config // compared when wantErrs is empty
		wantWarning string
		wantErrs    []string
	}{{
		name: "off by default",
		yaml: "log: {level: info}\n",
		want: tracing.Config{ServiceName: "portcullis", Providers: tracing.Providers{OTLP: tracing.OTLP{
			Protocol: "http", Sampling: tracing.Sampling{SamplingRatio: 1}}}},
	}, {
		name: "oathkeeper otel block",
		yaml: `tracing:
  provider: otel
  service_name: authz
  deployment_environment: prod
  providers:
    otlp:
      server_url: otel-collector:4318
      insecure: true
      sampling: {sampling_ratio: 0.25}
`,
		wantOn: true,
		want: tracing.Config{Provider: "otel", ServiceName: "authz", DeploymentEnvironment: "prod", Providers: tracing.Providers{OTLP: tracing.OTLP{
			ServerURL: "otel-collector:4318", Protocol: "http", Insecure: true, Sampling: tracing.Sampling{SamplingRatio: 0.25}}}},
	}, {
		name:   "grpc from the environment",
		yaml:   "tracing: {provider: otel}\n",
		env:    []string{"PORTCULLIS_TRACING_PROVIDERS_OTLP_SERVER_URL=collector:4317", "PORTCULLIS_TRACING_PROVIDERS_OTLP_PROTOCOL=grpc"},
		wantOn: true,
		want: tracing.Config{Provider: "otel", ServiceName: "portcullis", Providers: tracing.Providers{OTLP: tracing.OTLP{
			ServerURL: "collector:4317", Protocol: "grpc", Sampling: tracing.Sampling{SamplingRatio: 1}}}},
	}, {
		name: "jaeger stays off with a warning",
		yaml: `tracing:
  provider: jaeger
  providers:
    jaeger: {local_agent_address: "127.0.0.1:6831", sampling: {trace_id_ratio: 1}}
`,
		want: tracing.Config{Provider: "jaeger", ServiceName: "portcullis", Providers: tracing.Providers{OTLP: tracing.OTLP{
			Protocol: "http", Sampling: tracing.Sampling{SamplingRatio: 1}}}},
		wantWarning: "tracing.provider jaeger is not supported and tracing stays off",
	}, {
		name:        "zipkin stays off with a warning",
		yaml:        "tracing: {provider: zipkin, providers: {zipkin: {server_url: \"http://zipkin:9411/api/v2/spans\"}}}\n",
		want:        tracing.Config{Provider: "zipkin", ServiceName: "portcullis", Providers: tracing.Providers{OTLP: tracing.OTLP{Protocol: "http", Sampling: tracing.Sampling{SamplingRatio: 1}}}},
		wantWarning: "tracing.provider zipkin is not supported",
	}, {
		name: "bad values",
		yaml: `tracing:
  provider: otel
  service_name: ""
  providers:
    otlp:
      server_url: http://collector:4318/v1/traces
      protocol: udp
      sampling: {sampling_ratio: 1.5}
`,
		wantErrs: []string{
			`tracing.yaml:3: tracing.service_name: must not be empty`,
			`tracing.yaml:6: tracing.providers.otlp.server_url: "http://collector:4318/v1/traces" is not host:port; write e.g. otel-collector:4318 (insecure: true for plain HTTP/gRPC without TLS)`,
			`tracing.yaml:7: tracing.providers.otlp.protocol: unknown protocol "udp"; use http or grpc`,
			`tracing.yaml:8: tracing.providers.otlp.sampling.sampling_ratio: 1.5 is not between 0 and 1`,
		},
	}, {
		name:     "missing endpoint",
		yaml:     "tracing: {provider: otel}\n",
		wantErrs: []string{`tracing.providers.otlp.server_url: required when tracing.provider is otel; write the collector's host:port, e.g. otel-collector:4318`},
	}, {
		name:     "bad port",
		yaml:     "tracing: {provider: otel, providers: {otlp: {server_url: \"collector:http\"}}}\n",
		wantErrs: []string{`tracing.yaml:1: tracing.providers.otlp.server_url: "collector:http": port "http" is not a port number`},
	}, {
		name:     "unknown provider",
		yaml:     "tracing:\n  provider: datadog\n",
		wantErrs: []string{`tracing.yaml:2: tracing.provider: unknown provider "datadog"; use otel (OTLP), or leave it empty for no tracing`},
	}, {
		name:     "unknown key",
		yaml:     "tracing:\n  providers:\n    otlp: {endpoint: x}\n",
		wantErrs: []string{"tracing.providers.otlp.endpoint"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := config.Load("tracing.yaml", []byte(tc.yaml), tc.env)
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("loaded, want errors %q", tc.wantErrs)
				}
				lines := strings.Split(err.Error(), "\n")
				if len(lines) != len(tc.wantErrs) {
					t.Fatalf("errors:\n%v\nwant %d lines", err, len(tc.wantErrs))
				}
				for i, want := range tc.wantErrs {
					if !strings.Contains(lines[i], want) {
						t.Errorf("error line %d = %q, want %q", i+1, lines[i], want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Tracing != tc.want {
				t.Errorf("config %+v, want %+v", cfg.Tracing, tc.want)
			}
			if cfg.Tracing.Enabled() != tc.wantOn {
				t.Errorf("Enabled() = %v, want %v", cfg.Tracing.Enabled(), tc.wantOn)
			}
			var found bool
			for _, w := range warnings {
				found = found || tc.wantWarning != "" && strings.Contains(w, tc.wantWarning)
			}
			if found != (tc.wantWarning != "") {
				t.Errorf("warnings %q, want one containing %q", warnings, tc.wantWarning)
			}
		})
	}
}
