package authz_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz"
)

// TestDecisionsResponseOutlivesSession: the decision API hands an allow's
// session back for reuse once its answer is written, so the headers it
// answered with must be its own: later checks, which refill the reused
// session, must not change an earlier response's headers.
func TestDecisionsResponseOutlivesSession(t *testing.T) {
	snap := snapshotWith(t, `
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators: {header: {enabled: true}}
`, `
- id: echo
  match: {url: "https://api.test/echo", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-Name: '{{ .MatchContext.Header.Get "x-name" }}', X-Fixed: fixed}}}]
`)
	st := &store{}
	st.s.Store(snap)
	h := authz.NewChecker(st, zap.NewNop(), nil, testBudget).Decisions(authz.DecisionsOptions{})

	call := func(name string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/decisions/echo", nil)
		req.Host, req.RemoteAddr = "api.test", "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Name", name)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Name") != name {
			t.Fatalf("%s: status %d, headers %v", name, rec.Code, rec.Header())
		}
		return rec
	}
	first := call("alice")
	want := first.Header().Clone()
	for _, name := range []string{"bob", "carol", "dave"} {
		call(name)
	}
	for _, k := range []string{"X-Name", "X-Fixed"} {
		if got := first.Header()[k]; !slices.Equal(got, want[k]) {
			t.Errorf("%s of the first response changed to %q after later checks, want %q", k, got, want[k])
		}
	}
}
