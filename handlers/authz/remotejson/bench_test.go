package remotejson

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkRoundTrip measures one decision against a loopback OPA-style
// server: render, POST, read, check for duplicates, read the decision.
func BenchmarkRoundTrip(b *testing.B) {
	f := newFakeRemote(b, func(w http.ResponseWriter, _ *http.Request, _ int32) {
		w.Write([]byte(`{"decision_id":"4ab1","result":{"allow":true}}`))
	})
	a := newAuthorizer(b, Config{Remote: f.URL, DecisionPath: "result.allow",
		Payload: `{"input":{"subject":{{ jsonQuote .Subject }},"method":{{ jsonQuote .MatchContext.Method }}}}`})
	r, s := testRequest(), testSession()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := a.Authorize(ctx, r, s); err != nil {
			b.Fatal(err)
		}
	}
}
