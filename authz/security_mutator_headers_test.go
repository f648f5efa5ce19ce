package authz_test

// Issue #8 item 6 and issue #10 items 1 and 9 at the gRPC front door:
// rule sets whose mutators would set a hop-by-hop, framing, pseudo- or
// Envoy-internal header are refused when they load, naming the rule and the
// header, and the rules in force keep serving; Host loads with a warning and
// never reaches Envoy; cookie values are delivered as net/http writes them.

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// secRuleHdr is the good rule the store serves before each bad set.
const secRuleHdr = `
- id: R-hdr
  match: {url: "https://api.test/hdr/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ .Subject }}"}}}]
`

// secMutatorRule is one rule, R-bad, with the given mutator entry.
func secMutatorRule(mutator string) string {
	return `
- id: R-bad
  match: {url: "https://api.test/bad/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous, config: {subject: "Alice Smith"}}]
  authorizer: {handler: allow}
  mutators: [` + mutator + `]
`
}

func TestMutatorHeaderPolicyThroughTheRuleStore(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	core, logs := observer.New(zapcore.WarnLevel)
	log := zap.New(core)
	_, reg, cfg := e.secBuild(t, secWorldOpts{log: log})
	store := rulestore.NewStore(cfg, reg, log)
	t.Cleanup(func() {
		if s := store.Current(); s != nil {
			s.Close()
		}
	})
	client := secServe(t, store, nil, authz.GRPCOptions{})
	good := secRulePub + secRuleHdr
	if err := store.Apply(decodeSecRules(t, good), "good"); err != nil {
		t.Fatal(err)
	}
	inForce := func(t *testing.T) {
		t.Helper()
		secAllow(t, secDo(t, client, secCheck("GET", secHost, "/public/x", nil)), "R-pub")
		r := secDo(t, client, secCheck("GET", secHost, "/hdr/x", nil))
		secAllow(t, r, "R-hdr")
		secOverwrites(t, r, "x-user", "anonymous")
		secDeny(t, secDo(t, client, secCheck("GET", secHost, "/bad/x", nil)), 404)
	}
	inForce(t)

	// Each of these loaded before and reached Envoy's ok_response; the
	// x-envoy-original-path one is the CVE-2023-27487 shape.
	refused := []struct {
		name, mutator, header string
	}{
		{"x-envoy-original-path", `{handler: header, config: {headers: {X-Envoy-Original-Path: "/public/x"}}}`, "X-Envoy-Original-Path"},
		{"content-length", `{handler: header, config: {headers: {Content-Length: "0"}}}`, "Content-Length"},
		{"transfer-encoding", `{handler: header, config: {headers: {Transfer-Encoding: "chunked"}}}`, "Transfer-Encoding"},
		{"connection", `{handler: header, config: {headers: {Connection: "close"}}}`, "Connection"},
		{"te", `{handler: header, config: {headers: {TE: "trailers"}}}`, "TE"},
		{"upgrade", `{handler: header, config: {headers: {Upgrade: "websocket"}}}`, "Upgrade"},
		{"keep-alive", `{handler: header, config: {headers: {Keep-Alive: "timeout=5"}}}`, "Keep-Alive"},
		{"proxy-connection", `{handler: header, config: {headers: {Proxy-Connection: "close"}}}`, "Proxy-Connection"},
		{"trailer", `{handler: header, config: {headers: {Trailer: "x"}}}`, "Trailer"},
		{"pseudo-header", `{handler: header, config: {headers: {":authority": "admin.internal"}}}`, ":authority"},
		{"x-envoy not in allow_envoy_headers", `{handler: header, config: {allow_envoy_headers: [x-envoy-retry-on], headers: {x-envoy-upstream-rq-timeout-ms: "1"}}}`, "x-envoy-upstream-rq-timeout-ms"},
		{"envoy response content-length", `{handler: envoy, config: {response_headers: {content-length: "0"}}}`, "content-length"},
		{"envoy response x-envoy", `{handler: envoy, config: {response_headers: {x-envoy-immediate-health-check-fail: "true"}}}`, "x-envoy-immediate-health-check-fail"},
	}
	for _, c := range refused {
		t.Run("refused: "+c.name, func(t *testing.T) {
			err := store.Apply(decodeSecRules(t, good+secMutatorRule(c.mutator)), c.name)
			if err == nil {
				t.Fatal("the rule set loaded")
			}
			msg := err.Error()
			if !strings.Contains(msg, `(id "R-bad")`) || !strings.Contains(msg, `header "`+c.header+`" cannot be set`) {
				t.Fatalf("error %q does not name rule R-bad and header %s", msg, c.header)
			}
			if strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			if st := store.Status(); st.Version != "good" || st.LastError != msg {
				t.Fatalf("status = %+v, want the good set in force and the error kept", st)
			}
			inForce(t)
		})
	}

	t.Run("host loads with one warning and is not sent", func(t *testing.T) {
		before := logs.Len()
		set := good + secMutatorRule(`{handler: header, config: {headers: {Host: "admin.internal", X-User: "{{ .Subject }}"}}}`)
		if err := store.Apply(decodeSecRules(t, set), "host"); err != nil {
			t.Fatalf("Host refused: %v", err)
		}
		var warnings []string
		for _, l := range logs.All()[before:] {
			if strings.Contains(l.Message, `(id "R-bad"): mutators[0] (header)`) {
				warnings = append(warnings, l.Message)
			}
		}
		if len(warnings) != 1 || !strings.Contains(warnings[0], "headers.Host is dropped") || !strings.Contains(warnings[0], "host_rewrite_literal") {
			t.Fatalf("header mutator warnings for R-bad = %q, want one naming headers.Host and host_rewrite_literal", warnings)
		}
		r := secDo(t, client, secCheck("GET", secHost, "/bad/x", nil))
		secAllow(t, r, "R-bad")
		secOverwrites(t, r, "x-user", "Alice Smith")
		for name := range secUpstream(r) {
			if name == "host" || name == ":authority" {
				t.Fatalf("upstream %s set: %v", name, r)
			}
		}
	})

	t.Run("headers: {} loads and sets nothing", func(t *testing.T) {
		if err := store.Apply(decodeSecRules(t, good+secMutatorRule(`{handler: header, config: {headers: {}}}`)), "empty"); err != nil {
			t.Fatalf("headers: {} refused: %v", err)
		}
		r := secDo(t, client, secCheck("GET", secHost, "/bad/x", nil))
		secAllow(t, r, "R-bad")
		if h := r.resp.GetOkResponse().GetHeaders(); len(h) != 0 {
			t.Fatalf("upstream headers %v, want none", h)
		}
	})

	t.Run("a listed x-envoy header is delivered", func(t *testing.T) {
		set := good + secMutatorRule(`{handler: header, config: {allow_envoy_headers: [x-envoy-retry-on], headers: {X-Envoy-Retry-On: "5xx"}}}`)
		if err := store.Apply(decodeSecRules(t, set), "allowed"); err != nil {
			t.Fatal(err)
		}
		secOverwrites(t, secDo(t, client, secCheck("GET", secHost, "/bad/x", nil)), "x-envoy-retry-on", "5xx")
	})

	t.Run("a cookie value with a space is quoted as net/http quotes it", func(t *testing.T) {
		set := good + secMutatorRule(`{handler: cookie, config: {cookies: {user: "{{ .Subject }}"}}}`)
		if err := store.Apply(decodeSecRules(t, set), "cookie"); err != nil {
			t.Fatal(err)
		}
		r := secDo(t, client, secCheck("GET", secHost, "/bad/x", map[string]string{"cookie": "user=admin; theme=dark"}))
		secAllow(t, r, "R-bad")
		secOverwrites(t, r, "cookie", `user="Alice Smith"; theme=dark`)
	})
}

func decodeSecRules(tb testing.TB, yaml string) []pipeline.RuleSpec {
	tb.Helper()
	specs, err := rulestore.DecodeRules("security-rules.yaml", []byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	return specs
}
