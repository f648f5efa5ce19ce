package envoy

import (
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// BenchmarkToRequest translates the modern fixture request: 12 headers, mTLS
// peers, context extensions and jwt_authn metadata (whose Struct → map
// decoding is a good share of the cost).
func BenchmarkToRequest(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"headers", "SYNTHESIZED-modern-envoy-grpc-headers.json"},
		{"header_map", "SYNTHESIZED-modern-envoy-grpc-encode_raw_headers.json"},
	} {
		req := loadCheckRequest(b, bc.file)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ToRequest(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkToCheckResponse(b *testing.B) {
	for _, bc := range []struct {
		name string
		d    *pipeline.Decision
	}{
		{"allow_2_headers", &pipeline.Decision{
			Allowed: true, RuleID: "orders-write", Subject: "alice", Reason: "allowed",
			Session: &pipeline.Session{Header: pipeline.Header{
				"x-user":   {"alice"},
				"x-tenant": {"acme"},
			}},
		}},
		{"deny_401", &pipeline.Decision{
			RuleID: "orders-write", Reason: "jwt_expired",
			Denial: pipeline.Denial{
				Status: 401,
				Header: pipeline.Header{"www-authenticate": {`Bearer error="invalid_token"`}},
				Body:   []byte(`{"error":"unauthorized"}`),
			},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := ValidateDecision(bc.d); err != nil {
					b.Fatal(err)
				}
				_ = ToCheckResponse(bc.d)
			}
		})
	}
}
