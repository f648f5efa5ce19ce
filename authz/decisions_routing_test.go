package authz_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/authz"
)

// TestDecisionsRoutingMatchesServeMux: NewAPIHandler hands decision calls
// to the decision API without asking its ServeMux, and must route every
// request target exactly as a ServeMux with its patterns does: judged
// when the mux would judge it, and otherwise the mux's own answer (a
// redirect to the cleaned path, 404, 405). Requests are parsed from the
// wire form, as the server parses them.
func TestDecisionsRoutingMatchesServeMux(t *testing.T) {
	decisions := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "judged "+r.Method+" "+r.RequestURI)
	})
	alive := func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "alive") }
	ref := http.NewServeMux() // the routing NewAPIHandler had before
	ref.HandleFunc("GET /health/alive", alive)
	ref.Handle(authz.DecisionsPath, decisions)
	ref.Handle(authz.DecisionsPath+"/", decisions)
	api := authz.NewAPIHandler(&store{}, nil, authz.APIOptions{Decisions: decisions})

	targets := []string{
		"/decisions", "/decisions/", "/decisions?x=1", "/decisions/orders/42", "/decisions/orders/42?a=b&c",
		"/decisions/orders/", "/decisions//orders", "/decisions/./orders", "/decisions/orders/.",
		"/decisions/orders/..", "/decisions/..", "/decisions/../health/alive", "/decisions/a/./",
		"/decisions/a//", "/decisions%2Forders", "/decisions/orders%2F..%2Fx", "/decisions/%2e%2e/x",
		"/decisionsx", "/decision", "/decisions/ü", "/decisions/a%20b", "//decisions/a", "*",
	}
	for _, method := range []string{"GET", "POST", "HEAD", "CONNECT", "OPTIONS"} {
		for _, target := range targets {
			raw := method + " " + target + " HTTP/1.1\r\nHost: api.test\r\n\r\n"
			serve := func(h http.Handler) (*httptest.ResponseRecorder, bool) {
				req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
				if err != nil {
					return nil, false
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec, true
			}
			want, ok := serve(ref)
			if !ok {
				continue // not a request the server would accept
			}
			got, _ := serve(api)
			if got.Code != want.Code || got.Header().Get("Location") != want.Header().Get("Location") ||
				got.Body.String() != want.Body.String() {
				t.Errorf("%s %s: got %d %q %q, want %d %q %q", method, target,
					got.Code, got.Header().Get("Location"), got.Body.String(),
					want.Code, want.Header().Get("Location"), want.Body.String())
			}
		}
	}
}
