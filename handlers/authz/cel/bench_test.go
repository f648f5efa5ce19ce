package cel

import (
	"context"
	"testing"
)

func BenchmarkEvaluate(b *testing.B) {
	for _, bc := range []struct{ name, expr string }{
		{"subject", `subject == "alice"`},
		{"method_and_header", `request.method == "POST" && request.headers["x-tenant"] == "acme"`},
		{"roles_and_path", `"admin" in extra.roles && request.path.startsWith("/orders/")`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a, err := New(Config{Expression: bc.expr})
			if err != nil {
				b.Fatal(err)
			}
			// A cancellable context, as every gRPC request has.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r, s := testRequest(), testSession()
			b.ReportAllocs()
			for b.Loop() {
				if err := a.Authorize(ctx, r, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
