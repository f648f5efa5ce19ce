package authz_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// TestSecurityE covers category E (availability) of SECURITY_CASES.md at
// the gRPC front door.
func TestSecurityE(t *testing.T) {
	t.Parallel()
	t.Run("E-03 panics inside pipeline handlers", secE03)
	t.Run("E-06 JWKS outage after warm-up", secE06)
	t.Run("E-07 gRPC message size", secE07)
	t.Run("E-13 bad rules on reload", secE13)
}

func secE03(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	remote := newSecRemote(t, e.attacker.URL)
	intro := newSecIntrospection(t)
	sessions := newSecSessionStore(t)
	w := e.world(t, secWorldOpts{
		register: func(reg *pipeline.Registry) {
			pipeline.RegisterAuthenticator(reg, "panic", func(struct{}) (pipeline.Authenticator, error) {
				return pipeline.AuthenticatorFunc(func(context.Context, *pipeline.Request, *pipeline.Session) error { panic("boom") }), nil
			})
		},
		config: func(c map[string]any) {
			c["authenticators"].(map[string]any)["panic"] = map[string]any{"enabled": true}
		},
		rules: secRulesBase + fmt.Sprintf(`
- id: R-e03-panic
  match: {url: "https://api.test/e03/panic", methods: [GET]}
  authenticators: [{handler: panic}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-e03-groups
  match: {url: "https://api.test/e03/groups", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-Groups: '{{ join "," .Extra.groups }}'}}}]
- id: R-e03-introspection
  match: {url: "https://api.test/e03/intro", methods: [GET]}
  authenticators: [{handler: oauth2_introspection, config: {introspection_url: "%s", timeout: 10s}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-e03-session
  match: {url: "https://api.test/e03/<(null|ok)>", methods: [GET]}
  authenticators: [{handler: cookie_session, config: {check_session_url: "%s", timeout: 10s, preserve_path: false}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
- id: R-e03-remote
  match: {url: "https://api.test/e03/remote/<[a-z-]+>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: remote_json, config: {remote: "%s/decide", timeout: 10s, payload: '{"case": {{ jsonQuote (printIndex .MatchContext.RegexpCaptureGroups 0) }}}'}}
  mutators: [{handler: noop}]
`, intro.URL, sessions.URL, remote.URL)})

	stillServing := func(t *testing.T) {
		t.Helper()
		secAllow(t, w.check(t, secCheck("GET", secHost, "/public/x", nil)), "R-pub")
		secAllow(t, w.check(t, secCheck("GET", secHost, "/admin/x", secBearer(secToken(t, nil, nil)))), "R-adm")
	}
	h, p := secB64(secJSON(t, secH0())), secB64(secJSON(t, secC0()))
	jsonNoProtected := string(secJSON(t, map[string]any{"payload": p, "signature": secB64(secSign(t, "RS256", secKeyK1, h+"."+p))}))

	t.Run("a panicking handler is a gRPC error, never OK", func(t *testing.T) {
		r, err := secTry(w.client, secCheck("GET", secHost, "/e03/panic", nil))
		if err == nil {
			t.Fatalf("got %v, want a gRPC error (Envoy denies with status_on_error)", r)
		}
		if st, _ := status.FromError(err); st.Code() == codes.OK {
			t.Fatalf("gRPC status OK for a panic: %v", err)
		}
		stillServing(t)
	})
	for _, c := range []struct {
		name    string
		path    string
		headers map[string]string
		deny    bool // false: any in-band answer is acceptable
	}{
		{name: "claim groups absent", path: "/e03/groups", headers: secBearer(secToken(t, nil, map[string]any{"groups": nil})), deny: false},
		{name: "claim groups JSON null", path: "/e03/groups", headers: secBearer(secJWT(t, "RS256", secKeyK1, secH0(), []byte(strings.Replace(string(secJSON(t, secC0())), "{", `{"groups":null,`, 1)))), deny: false},
		{name: "introspection body []", path: "/e03/intro", headers: secBearer("tok-array"), deny: true},
		{name: "session body null", path: "/e03/null", headers: map[string]string{"cookie": "session=e03"}, deny: false},
		{name: "remote authorizer closes the connection mid-body", path: "/e03/remote/close-mid-body", deny: true},
		{name: "JWS JSON serialization without protected", path: "/admin/x", headers: secBearer(jsonNoProtected), deny: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := w.check(t, secCheck("GET", secHost, c.path, c.headers)) // in-band, no gRPC error
			t.Logf("%v", r)
			if c.deny {
				secDeny(t, r)
			}
			stillServing(t)
		})
	}
}

func secE06(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	w := e.world(t, secWorldOpts{rules: secRulePub + `
- id: R-adm
  match: {url: "https://api.test/admin/<.*>", methods: [GET, POST, DELETE]}
  authenticators: [{handler: jwt, config: {jwks_ttl: 1s}}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User-ID: "{{ .Subject }}"}}}]
`})
	k1 := func() secResult {
		return w.check(t, secCheck("GET", secHost, "/admin/x", secBearer(secToken(t, nil, nil))))
	}
	e1 := func() secResult {
		return w.check(t, secCheck("GET", secHost, "/admin/x", secBearer(secJWT(t, "ES256", secKeyE1, map[string]any{"alg": "ES256", "kid": "e1"}, secC0()))))
	}
	secAllow(t, k1(), "R-adm") // warm-up

	e.idp.set(500, nil)
	before := e.idp.hits.Load()
	// The failing fetches (the refresh after jwks_ttl, then its retry)
	// happen in the background; every check meanwhile must still verify.
	secEventually(t, "two JWKS fetches during the outage (refresh, retry)", func() bool {
		secAllow(t, k1(), "R-adm")
		return e.idp.hits.Load()-before >= 2
	})
	secAllow(t, k1(), "R-adm")
	secAllow(t, e1(), "R-adm")

	// Keys go only after a successful fetch that omits them.
	e.idp.set(200, secJWKS(t, secJWK(t, &secKeyE1.PublicKey, map[string]any{"kid": "e1", "alg": "ES256", "use": "sig"})))
	secEventually(t, "k1 to go after a successful fetch without it", func() bool {
		r := k1()
		if r.allowed() {
			return false
		}
		secDeny(t, r, 401)
		return true
	})
	secAllow(t, e1(), "R-adm")
}

func secE07(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	// 4 MiB, gRPC's default, set explicitly as serve.grpc.max_recv_msg_size
	// would.
	w := e.world(t, secWorldOpts{rules: secRulesBase, grpc: authz.GRPCOptions{MaxRecvMsgSize: 4 << 20}})

	t.Run("5 MiB body is refused by the server", func(t *testing.T) {
		req := secCheck("POST", secHost, "/admin/upload", nil)
		req.Attributes.Request.Http.RawBody = make([]byte, 5<<20)
		r, err := secTry(w.client, req)
		if err == nil {
			t.Fatalf("got %v, want a gRPC error", r)
		}
		if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted {
			t.Fatalf("gRPC error %v, want ResourceExhausted", err)
		}
	})
	t.Run("3.9 MiB of headers under the limit is judged", func(t *testing.T) {
		h := map[string]string{}
		for i := range 400 {
			h[fmt.Sprintf("x-pad-%03d", i)] = strings.Repeat("p", 10_200)
		}
		secDeny(t, w.check(t, secCheck("GET", secHost, "/admin/x", h)), 401)
	})
	secAllow(t, w.check(t, secCheck("GET", secHost, "/public/x", nil)), "R-pub")
}

func secE13(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	core, logs := observer.New(zapcore.InfoLevel)
	log := zap.New(core)
	_, reg, cfg := e.secBuild(t, secWorldOpts{log: log})

	t.Run("no rules yet denies everything", func(t *testing.T) {
		c := secServe(t, rulestore.NewStore(cfg, reg, log), nil, authz.GRPCOptions{})
		r := secDo(t, c, secCheck("GET", secHost, "/public/x", nil))
		secDeny(t, r, 503)
		if r.resp.GetStatus().GetCode() == int32(code.Code_OK) {
			t.Fatal("OK without rules")
		}
	})

	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	write := func(data string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(secRulesBase)
	store := rulestore.NewStore(cfg, reg, log)
	src, err := filesource.New([]string{"file://" + file}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	src.Debounce = 20 * time.Millisecond
	specs, version, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(specs, version); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s := store.Current(); s != nil {
			s.Close()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	src.Applied = version
	go func() { done <- src.Run(ctx, store.Publish) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	})
	client := secServe(t, store, nil, authz.GRPCOptions{})
	lastGood := func(t *testing.T) {
		t.Helper()
		secAllow(t, secDo(t, client, secCheck("GET", secHost, "/public/x", nil)), "R-pub")
		secDeny(t, secDo(t, client, secCheck("GET", secHost, "/admin/x", nil)), 401)
		secAllow(t, secDo(t, client, secCheck("GET", secHost, "/admin/x", secBearer(secToken(t, nil, nil)))), "R-adm")
		secDeny(t, secDo(t, client, secCheck("GET", secHost, "/nowhere", nil)), 404)
	}
	reloads := func() int {
		return logs.FilterMessageSnippet("rules rejected").Len() + logs.FilterMessageSnippet("rules reloaded").Len()
	}
	lastGood(t)

	for _, c := range []struct{ name, data string }{
		{"syntax error", secRulesBase + "\n- id: [unterminated\n"},
		{"uncompilable regexp", strings.Replace(secRulesBase, "https://api.test/public/<.*>", "https://api.test/public/<(>", 1)},
		{"empty file", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before, rejected, failures := reloads(), logs.FilterMessageSnippet("rules rejected").Len(), store.Status().Failures
			write(c.data)
			secEventually(t, "the file source to react to the change", func() bool { return reloads() != before })
			lastGood(t)
			if logs.FilterMessageSnippet("rules rejected").Len() == rejected {
				t.Error("no 'rules rejected' log line for the bad set")
			}
			if c.name == "uncompilable regexp" && store.Status().Failures == failures {
				t.Error("the store's failure count did not move")
			}
		})
	}
}

// Interface guard: secServe takes any snapshot source, the rule store
// included.
var _ authz.Snapshots = (*rulestore.Store)(nil)
