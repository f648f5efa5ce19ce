package envoy

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3" // registers Router for Any
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3" // registers HttpProtocolOptions for Any
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

const examplesDir = "examples"

// loadBootstrap decodes a YAML bootstrap strictly: unknown fields and
// unregistered Any types are errors, as they are for Envoy.
func loadBootstrap(t *testing.T, name string) *bootstrapv3.Bootstrap {
	t.Helper()
	y, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		t.Fatalf("%s: yaml: %v", name, err)
	}
	b := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(j, b); err != nil {
		t.Fatalf("%s: decode Bootstrap: %v", name, err)
	}
	return b
}

// validateDeep runs the generated validation on m and, because ValidateAll
// stops at google.protobuf.Any, on the content of every typed_config it
// finds. It also rejects deprecated fields, which Envoy warns about and
// eventually removes.
func validateDeep(t *testing.T, m proto.Message, where string) {
	t.Helper()
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	var walk func(m protoreflect.Message, where string)
	walk = func(m protoreflect.Message, where string) {
		if a, ok := m.Interface().(*anypb.Any); ok {
			inner, err := a.UnmarshalNew()
			if err != nil {
				t.Errorf("%s: %v", where, err)
				return
			}
			validateDeep(t, inner, where+"("+a.GetTypeUrl()+")")
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			at := where + "." + string(fd.Name())
			if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
				t.Errorf("%s: deprecated field", at)
			}
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					walk(v.List().Get(i).Message(), at)
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message(), at)
					return true
				})
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
				walk(v.Message(), at)
			}
			return true
		})
	}
	walk(m.ProtoReflect(), where)
}

// extAuthz returns the ext_authz filter config of the first listener.
func extAuthz(t *testing.T, b *bootstrapv3.Bootstrap) *extauthzv3.ExtAuthz {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{}
	f := b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0]
	if err := f.GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	for _, hf := range hcm.GetHttpFilters() {
		if hf.GetName() == "envoy.filters.http.ext_authz" {
			c := &extauthzv3.ExtAuthz{}
			if err := hf.GetTypedConfig().UnmarshalTo(c); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Fatal("no envoy.filters.http.ext_authz filter")
	return nil
}

func cluster(t *testing.T, b *bootstrapv3.Bootstrap, name string) *clusterv3.Cluster {
	t.Helper()
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return c
		}
	}
	t.Fatalf("no cluster %q", name)
	return nil
}

func endpoint(c *clusterv3.Cluster) *corev3.SocketAddress {
	return c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
}

func exactPatterns(l *matcherv3.ListStringMatcher) []string {
	var out []string
	for _, p := range l.GetPatterns() {
		out = append(out, p.GetExact())
	}
	return out
}

// exampleChecks pins what each sample promises in its comments; every file
// in examples/ must have an entry.
var exampleChecks = map[string]func(t *testing.T, b *bootstrapv3.Bootstrap){
	"envoy-grpc.yaml": checkGRPCExample,
	"envoy-grpc-tls.yaml": func(t *testing.T, b *bootstrapv3.Bootstrap) {
		checkGRPCExample(t, b)
		checkUpstreamMTLS(t, cluster(t, b, "portcullis"))
	},
	"envoy-http.yaml": func(t *testing.T, b *bootstrapv3.Bootstrap) {
		c := extAuthz(t, b)
		hs := c.GetHttpService()
		if got := hs.GetServerUri().GetUri(); got != "http://127.0.0.1:4456" {
			t.Errorf("server_uri = %q", got)
		}
		if got := hs.GetServerUri().GetCluster(); got != "portcullis_http" {
			t.Errorf("server_uri.cluster = %q", got)
		}
		if got := hs.GetPathPrefix(); got != "/decisions" {
			t.Errorf("path_prefix = %q", got)
		}
		if got := exactPatterns(c.GetAllowedHeaders()); !cmp.Equal(got, []string{"authorization", "cookie"}) {
			t.Errorf("allowed_headers = %q", got)
		}
		if got := exactPatterns(hs.GetAuthorizationResponse().GetAllowedUpstreamHeaders()); !cmp.Equal(got, []string{"x-user", "authorization"}) {
			t.Errorf("allowed_upstream_headers = %q", got)
		}
		if c.GetFailureModeAllow() {
			t.Error("failure_mode_allow must be false (fail closed)")
		}
		if a := endpoint(cluster(t, b, "portcullis_http")); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != 4456 {
			t.Errorf("portcullis_http endpoint = %v", a)
		}
	},
}

// checkGRPCExample pins the gRPC mode shared by the plaintext and the TLS
// samples.
func checkGRPCExample(t *testing.T, b *bootstrapv3.Bootstrap) {
	t.Helper()
	c := extAuthz(t, b)
	if got := c.GetGrpcService().GetEnvoyGrpc().GetClusterName(); got != "portcullis" {
		t.Errorf("grpc cluster = %q", got)
	}
	if got := c.GetGrpcService().GetTimeout().AsDuration(); got != 250*time.Millisecond {
		t.Errorf("timeout = %v, want 250ms", got)
	}
	if c.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		t.Errorf("transport_api_version = %v", c.GetTransportApiVersion())
	}
	if c.GetFailureModeAllow() {
		t.Error("failure_mode_allow must be false (fail closed)")
	}
	if c.GetWithRequestBody() != nil {
		t.Error("with_request_body must be off")
	}
	if !c.GetIncludePeerCertificate() {
		t.Error("include_peer_certificate must be true")
	}
	if got := c.GetMetadataContextNamespaces(); !cmp.Equal(got, []string{"envoy.filters.http.jwt_authn"}) {
		t.Errorf("metadata_context_namespaces = %q", got)
	}
	pc := cluster(t, b, "portcullis")
	if a := endpoint(pc); a.GetAddress() != "127.0.0.1" || a.GetPortValue() != 9191 {
		t.Errorf("portcullis endpoint = %v", a)
	}
	if got := pc.GetHealthChecks()[0].GetGrpcHealthCheck().GetServiceName(); got != "envoy.service.auth.v3.Authorization" {
		t.Errorf("grpc_health_check.service_name = %q", got)
	}
	if pc.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] == nil {
		t.Error("portcullis cluster must speak HTTP/2 for gRPC")
	}
}

// checkUpstreamMTLS pins the TLS sample's promises: Envoy presents a
// client certificate, verifies Portcullis' certificate against a CA and
// the SNI name it sends, offers h2, and never goes below TLS 1.2.
func checkUpstreamMTLS(t *testing.T, c *clusterv3.Cluster) {
	t.Helper()
	ts := c.GetTransportSocket()
	if ts.GetName() != "envoy.transport_sockets.tls" {
		t.Fatalf("transport_socket %q, want envoy.transport_sockets.tls", ts.GetName())
	}
	u := &tlsv3.UpstreamTlsContext{}
	if err := ts.GetTypedConfig().UnmarshalTo(u); err != nil {
		t.Fatalf("transport_socket: %v", err)
	}
	ctx := u.GetCommonTlsContext()
	if got := ctx.GetAlpnProtocols(); !cmp.Equal(got, []string{"h2"}) {
		t.Errorf("alpn_protocols = %q, want [h2] (gRPC needs HTTP/2)", got)
	}
	if v := ctx.GetTlsParams().GetTlsMinimumProtocolVersion(); v < tlsv3.TlsParameters_TLSv1_2 {
		t.Errorf("tls_minimum_protocol_version = %v, Portcullis accepts TLS 1.2 at least", v)
	}
	certs := ctx.GetTlsCertificates()
	if len(certs) != 1 || certs[0].GetCertificateChain().GetFilename() == "" || certs[0].GetPrivateKey().GetFilename() == "" {
		t.Errorf("tls_certificates = %v, want one client certificate and key for mTLS", certs)
	}
	vc := ctx.GetValidationContext()
	if vc.GetTrustedCa().GetFilename() == "" {
		t.Error("validation_context.trusted_ca must be set: Envoy has to verify Portcullis")
	}
	sans := vc.GetMatchTypedSubjectAltNames()
	if u.GetSni() == "" || len(sans) != 1 || sans[0].GetSanType() != tlsv3.SubjectAltNameMatcher_DNS || sans[0].GetMatcher().GetExact() != u.GetSni() {
		t.Errorf("sni %q and match_typed_subject_alt_names %v must name the same DNS name", u.GetSni(), sans)
	}
}

func TestExampleBootstrapsAreValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(exampleChecks) {
		t.Errorf("examples/ has %d YAML files, exampleChecks covers %d", len(files), len(exampleChecks))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			b := loadBootstrap(t, name)
			validateDeep(t, b, "bootstrap")
			check, ok := exampleChecks[name]
			if !ok {
				t.Fatalf("no exampleChecks entry for %s", name)
			}
			check(t, b)
		})
	}
}
