package authz_test

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// fuzzRules allow exactly one thing, GET https://api.test/public/<word>,
// and say in X-Judged what they judged. Everything else is denied: by the
// admin rule, or for want of a rule.
const fuzzRules = `
- id: public
  match: {url: "https://api.test/public/<[a-z0-9]+>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators:
    - handler: header
      config: {headers: {X-Judged: "{{ .MatchContext.Method }} {{ .MatchContext.URL.Scheme }}://{{ .MatchContext.URL.Host }}{{ .MatchContext.URL.Path }}"}}
- id: admin
  match: {url: "<https|http>://api.test/admin/<.*>", methods: [GET, POST]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: noop}]
`

// judgedAllowed is the only request fuzzRules allow.
var judgedAllowed = regexp.MustCompile(`^(?i:get) https://api\.test/public/[a-z0-9]+$`)

// FuzzDecisions sends fuzzed decision API calls, as a proxy or a client
// reaching the API could make them, through the exported handler: a
// request line and Host, the forwarded headers, and a loopback (trusted)
// or remote peer. The handler never panics, always answers with a status
// between 200 and 599, and answers 200 only when the one allowing rule
// judged the one request it allows.
func FuzzDecisions(f *testing.F) {
	type call struct {
		peer                                          uint8
		method, target, host                          string
		fwdMethod, fwdProto, fwdHost, fwdURI, origURI string
	}
	for _, c := range []call{
		{0, "GET", "/decisions/public/a?q=1", "api.test", "", "https", "", "", ""},
		{0, "GET", "/decisions", "auth.internal", "GET", "https", "api.test", "/public/b?x=y", ""},
		{0, "GET", "/decisions", "auth.internal", "", "https", "api.test", "", "/public/c"},
		{0, "GET", "/decisions", "auth.internal", "DELETE", "https", "api.test", "/public/b", ""},
		{0, "GET", "/decisions", "auth.internal", "", "https", "API.Test.", "/public/../admin/x", ""},
		{0, "GET", "/decisions", "auth.internal", "", "https", "api.test", "/public/..%2Fadmin", "/public/a"},
		{1, "GET", "/decisions/public/a", "api.test", "", "https", "", "", ""},
		{1, "GET", "/decisions", "api.test", "", "https", "api.test", "/public/a", ""},
		{0, "GET", "/decisions/public/%61", "api.test:443", "", "https", "", "", ""},
		{0, "get", "/decisions//public/a", "api.test", "", "HTTPS", "api.test, evil.test", "", ""},
		{0, "GET", "/decisionsX/public/a", "api.test", "", "https", "", "", ""},
		{0, "GET", "/decisions/PUBLIC/a", "api.test", "", "https", "", "", ""},
	} {
		f.Add(c.peer, c.method, c.target, c.host, c.fwdMethod, c.fwdProto, c.fwdHost, c.fwdURI, c.origURI)
	}
	h := fuzzDecisionHandler(f)
	f.Fuzz(func(t *testing.T, peer uint8, method, target, host, fwdMethod, fwdProto, fwdHost, fwdURI, origURI string) {
		var wire strings.Builder
		wire.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
		for _, hv := range [][2]string{
			{"X-Forwarded-Method", fwdMethod}, {"X-Forwarded-Proto", fwdProto}, {"X-Forwarded-Host", fwdHost},
			{"X-Forwarded-Uri", fwdURI}, {"X-Original-Uri", origURI},
		} {
			if hv[1] != "" {
				wire.WriteString(hv[0] + ": " + hv[1] + "\r\n")
			}
		}
		wire.WriteString("\r\n")
		// What net/http's server would hand the handler, or nothing.
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(wire.String())))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:40000"
		if peer%2 == 1 {
			req.RemoteAddr = "203.0.113.7:40000"
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch status := rec.Code; {
		case status < 200 || status > 599:
			t.Fatalf("status %d for %q", status, wire.String())
		case status == http.StatusOK && !judgedAllowed.MatchString(rec.Header().Get("X-Judged")):
			t.Fatalf("200 for %q, judged as %q", wire.String(), rec.Header().Get("X-Judged"))
		}
	})
}

// fuzzDecisionHandler compiles fuzzRules with the shipped handlers and
// returns the decision API over them, with the default forwarded-header
// trust (loopback peers).
func fuzzDecisionHandler(tb testing.TB) http.Handler {
	tb.Helper()
	deps := builtin.NewDeps(nil)
	tb.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	specs, err := rulestore.DecodeRules("fuzz-rules.yaml", []byte(fuzzRules))
	if err != nil {
		tb.Fatal(err)
	}
	on := map[string]pipeline.HandlerConfig{"anonymous": {Enabled: true}, "allow": {Enabled: true}, "deny": {Enabled: true},
		"header": {Enabled: true}, "noop": {Enabled: true}, "json": {Enabled: true}}
	snap, err := pipeline.Compile(specs, pipeline.Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}, reg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(snap.Close)
	h := authz.NewChecker(fuzzSnapshot{snap}, nil, nil, testBudget).Decisions(authz.DecisionsOptions{})
	// The property is only worth something if the allow is reachable.
	req := httptest.NewRequest(http.MethodGet, "/decisions/public/a", nil)
	req.Host, req.RemoteAddr = "api.test", "127.0.0.1:40000"
	req.Header.Set("X-Forwarded-Proto", "https")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !judgedAllowed.MatchString(rec.Header().Get("X-Judged")) {
		tb.Fatalf("the allowed request got %d, X-Judged %q: %s", rec.Code, rec.Header().Get("X-Judged"), rec.Body)
	}
	return h
}

// fuzzSnapshot serves one fixed snapshot.
type fuzzSnapshot struct{ s *pipeline.Snapshot }

func (f fuzzSnapshot) Current() *pipeline.Snapshot { return f.s }
