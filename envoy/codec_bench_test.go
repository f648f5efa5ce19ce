package envoy

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// benchDecisions are the responses the marshalling benchmarks encode: an
// allow with two upstream headers and a 401 denial with a challenge.
func benchDecisions() []struct {
	name string
	d    *pipeline.Decision
} {
	return []struct {
		name string
		d    *pipeline.Decision
	}{
		{"allow_2_headers", &pipeline.Decision{
			Allowed: true, RuleID: "orders-write", Subject: "alice", Reason: "allowed",
			Session: &pipeline.Session{Header: pipeline.Header{"x-user": {"alice"}, "x-tenant": {"acme"}}},
		}},
		{"deny_401", &pipeline.Decision{
			RuleID: "orders-write", Reason: "jwt_expired",
			Denial: pipeline.Denial{
				Status: 401,
				Header: pipeline.Header{"www-authenticate": {`Bearer error="invalid_token"`}},
				Body:   []byte(`{"error":"unauthorized"}`),
			},
		}},
	}
}

// BenchmarkMarshalCheckResponse compares ways to put a decision on the
// wire: ToCheckResponse then proto.Marshal (the proto codec's way),
// ToCheckResponse then the vtprotobuf marshaller go-control-plane ships
// (vtproto_test.go, built with -tags vtprotobuf), and AppendCheckResponse,
// which envoy.Codec uses.
func BenchmarkMarshalCheckResponse(b *testing.B) {
	for _, bc := range benchDecisions() {
		b.Run(bc.name+"/proto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := proto.Marshal(ToCheckResponse(bc.d)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/append", func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendCheckResponse(buf[:0], bc.d)
			}
		})
	}
}

// BenchmarkReadCheckRequest compares proto.Unmarshal then ToRequest with
// ReadCheckRequest on the fixture requests.
func BenchmarkReadCheckRequest(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"headers", "SYNTHESIZED-modern-envoy-grpc-headers.json"},
		{"header_map", "SYNTHESIZED-modern-envoy-grpc-encode_raw_headers.json"},
	} {
		wire, err := proto.Marshal(loadCheckRequest(b, bc.file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name+"/proto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := &authv3.CheckRequest{}
				if err := proto.Unmarshal(wire, req); err != nil {
					b.Fatal(err)
				}
				if _, err := ToRequest(req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/codec", func(b *testing.B) {
			vals := make([]string, 24)
			b.ReportAllocs()
			for b.Loop() {
				var r pipeline.Request
				if malformed, err := ReadCheckRequest(wire, &r, vals); err != nil || malformed != nil {
					b.Fatal(err, malformed)
				}
			}
		})
	}
}
