//go:build vtprotobuf

package envoy

import "testing"

// BenchmarkMarshalCheckResponseVT is BenchmarkMarshalCheckResponse's
// vtprotobuf variant: go-control-plane compiles its MarshalVTStrict
// methods only with -tags vtprotobuf.
func BenchmarkMarshalCheckResponseVT(b *testing.B) {
	for _, bc := range benchDecisions() {
		b.Run(bc.name+"/vtproto", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ToCheckResponse(bc.d).MarshalVTStrict(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
