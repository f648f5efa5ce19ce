package authz_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// secBreakout closes the string it is spliced into and adds a member.
const secBreakout = `a@b.c","admin":true,"x":"`

// secPayloadRecorder is a remote_json authorizer that allows everything
// and records every body it receives.
type secPayloadRecorder struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newSecPayloadRecorder(t *testing.T) *secPayloadRecorder {
	t.Helper()
	s := &secPayloadRecorder{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"allow":true}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *secPayloadRecorder) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.bodies...)
}

// secTemplateRules splice the subject, claims and a query parameter into
// JSON as text, the way Oathkeeper configs commonly do.
func secTemplateRules(remoteURL, gwKeys string) string {
	return fmt.Sprintf(`
- id: R-tpl-remote
  match: {url: "https://api.test/tpl/remote/<.*>", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer:
    handler: remote_json
    config:
      remote: "%s/decide"
      timeout: 10s
      decision_path: allow
      payload: '{"sub":"{{ .Subject }}","email":"{{ .Extra.email }}","n":{{ print .Extra.n }},"q":"{{ .MatchContext.URL.Query.Get "q" }}","action":"read"}'
  mutators: [{handler: noop}]
- id: R-tpl-mint
  match: {url: "https://api.test/tpl/mint/<.*>", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators:
    - handler: id_token
      config: {issuer_url: "https://gw.test", jwks_url: "%s", claims: '{"aud":["svc-a"],"email":"{{ .Extra.email }}","level":{{ print .Extra.n }}}'}
`, remoteURL, gwKeys)
}

// TestSecurityTemplates: a value spliced into a JSON template cannot add a
// member to the remote_json payload or a claim to the minted id_token
// (the request fails closed, nothing is sent or minted), well-formed
// values are sent byte for byte, and templates cannot read the process
// environment.
func TestSecurityTemplates(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	remote := newSecPayloadRecorder(t)
	gwKeys := secPrivateJWKS(t, t.TempDir(), "gateway.json", secKeyK2, map[string]any{"kid": "gw-1", "alg": "RS256", "use": "sig"})
	w := e.world(t, secWorldOpts{rules: secTemplateRules(remote.URL, gwKeys)})
	token := func(t *testing.T, claims map[string]any) map[string]string {
		return secBearer(secToken(t, nil, secWith(map[string]any{"email": "alice@example.com", "n": 10}, claims)))
	}

	t.Run("remote_json payload is sent as rendered", func(t *testing.T) {
		before := len(remote.received())
		r := w.check(t, secCheck("GET", secHost, "/tpl/remote/x?q=v", token(t, nil)))
		secAllow(t, r, "R-tpl-remote")
		got := remote.received()
		if len(got) != before+1 {
			t.Fatalf("remote received %d payloads, want 1", len(got)-before)
		}
		if want := `{"sub":"alice","email":"alice@example.com","n":10,"q":"v","action":"read"}`; got[before] != want {
			t.Errorf("payload %s, want %s", got[before], want)
		}
	})

	for _, c := range []struct {
		name   string
		claims map[string]any
		query  string
	}{
		{name: "subject", claims: map[string]any{"sub": secBreakout}},
		{name: "email claim", claims: map[string]any{"email": secBreakout}},
		{name: "unquoted numeric claim", claims: map[string]any{"n": `1,"admin":true`}},
		{name: "query parameter", query: url.QueryEscape(secBreakout)},
		{name: "query parameter repeating a member", query: url.QueryEscape(`v","action":"delete`)},
	} {
		t.Run("remote_json breakout through "+c.name, func(t *testing.T) {
			before := len(remote.received())
			r := w.check(t, secCheck("GET", secHost, "/tpl/remote/x?q="+c.query, token(t, c.claims)))
			secDeny(t, r, 500)
			if r.reason() != "remote_json_template_output_invalid" {
				t.Errorf("reason %q, want remote_json_template_output_invalid", r.reason())
			}
			if got := remote.received(); len(got) != before {
				t.Errorf("remote received %q", got[before:])
			}
		})
	}

	t.Run("id_token claims as templated", func(t *testing.T) {
		r := w.check(t, secCheck("GET", secHost, "/tpl/mint/x", token(t, nil)))
		secAllow(t, r, "R-tpl-mint")
		hs := secUpstream(r)["authorization"]
		if len(hs) != 1 {
			t.Fatalf("authorization headers: %v", hs)
		}
		_, claims := secClaimsOf(t, strings.TrimPrefix(hs[0].GetHeader().GetValue(), "Bearer "))
		if claims["email"] != "alice@example.com" || claims["level"] != float64(10) || claims["iss"] != "https://gw.test" || claims["admin"] != nil {
			t.Errorf("claims %v", claims)
		}
	})

	for _, c := range []struct {
		name   string
		claims map[string]any
	}{
		{name: "email claim", claims: map[string]any{"email": secBreakout}},
		{name: "email claim repeating a claim", claims: map[string]any{"email": `a@b.c","aud":"svc-admin`}},
		{name: "unquoted numeric claim", claims: map[string]any{"n": `1,"admin":true`}},
	} {
		t.Run("id_token breakout through "+c.name, func(t *testing.T) {
			r := w.check(t, secCheck("GET", secHost, "/tpl/mint/x", token(t, c.claims)))
			secDeny(t, r, 500)
			if r.reason() != "id_token_template_output_invalid" {
				t.Errorf("reason %q, want id_token_template_output_invalid", r.reason())
			}
		})
	}
}

// TestSecurityTemplatesCannotReadTheEnvironment: every templated field
// that used to render {{ env "..." }} now fails to load, naming the rule,
// the template and the function, and never the variable's value.
func TestSecurityTemplatesCannotReadTheEnvironment(t *testing.T) {
	t.Setenv("PORTCULLIS_SEC_TEMPLATE_SECRET", "s3cr3t-from-env")
	e := newSecEnv(t)
	gwKeys := secPrivateJWKS(t, t.TempDir(), "gateway.json", secKeyK2, map[string]any{"kid": "gw-1", "alg": "RS256", "use": "sig"})
	env := `{{ env "PORTCULLIS_SEC_TEMPLATE_SECRET" }}`
	for _, c := range []struct{ name, authorizer, mutator, template string }{
		{name: "header", mutator: `{handler: header, config: {headers: {X-Secret: '` + env + `'}}}`, template: "X-Secret"},
		{name: "cookie", mutator: `{handler: cookie, config: {cookies: {secret: '` + env + `'}}}`, template: "secret"},
		{name: "id_token claims", mutator: `{handler: id_token, config: {issuer_url: "https://gw.test", jwks_url: "` + gwKeys + `", claims: '{"s":"` + env + `"}'}}`, template: "claims"},
		{name: "remote_json payload", authorizer: `{handler: remote_json, config: {remote: "http://127.0.0.1:1/", payload: '{"s":"` + env + `"}'}}`, template: "payload"},
		{name: "remote_json header", authorizer: `{handler: remote_json, config: {remote: "http://127.0.0.1:1/", payload: '{}', headers: {X-Secret: '` + env + `'}}}`, template: "X-Secret"},
		{name: "expandenv", mutator: `{handler: header, config: {headers: {X-Secret: '{{ expandenv "$PORTCULLIS_SEC_TEMPLATE_SECRET" }}'}}}`, template: "X-Secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			authorizer, mutator := c.authorizer, c.mutator
			if authorizer == "" {
				authorizer = "{handler: allow}"
			}
			if mutator == "" {
				mutator = "{handler: noop}"
			}
			rules := `
- id: R-env
  match: {url: "https://api.test/env/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: ` + authorizer + `
  mutators: [` + mutator + `]
`
			_, reg, cfg := e.secBuild(t, secWorldOpts{})
			specs, err := rulestore.DecodeRules("security-rules.yaml", []byte(rules))
			if err != nil {
				t.Fatal(err)
			}
			snap, err := pipeline.Compile(specs, cfg, reg)
			if err == nil {
				snap.Close()
				t.Fatal("a rule template reading the environment loaded")
			}
			msg := err.Error()
			for _, want := range []string{"R-env", c.template, "is not available"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %q", msg, want)
				}
			}
			if strings.Contains(msg, os.Getenv("PORTCULLIS_SEC_TEMPLATE_SECRET")) {
				t.Errorf("error shows the variable's value: %q", msg)
			}
		})
	}
}
