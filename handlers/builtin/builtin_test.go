package builtin_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	svcconfig "github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

const fixtures = "../../rulestore/testdata/oathkeeper"

// compileDir loads an Oathkeeper config and its rule repositories from the
// fixture folder, as Oathkeeper would (relative paths against the folder),
// and compiles them with every shipped handler.
func compileDir(t *testing.T, dir, config string, edit func(*svcconfig.Config)) (*pipeline.Snapshot, error) {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join(fixtures, dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(abs)
	cfg, _, err := svcconfig.Load(config, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	src, err := filesource.New(cfg.AccessRules.Repositories, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, _, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Compile(specs, cfg.Pipeline(), reg)
}

func TestOathkeeperFixturesCompile(t *testing.T) {
	tests := []struct {
		dir, config string
		edit        func(*svcconfig.Config)
		rules       int
		wantErr     string
	}{
		{dir: "e2e", config: "config.yml", rules: 1},
		{dir: "reload", config: "config.2.yaml", rules: 1},
		{dir: "reload", config: "config.3.yaml", rules: 1},
		// Oathkeeper answers 500 per request for a rule using a disabled
		// handler; Portcullis refuses the set at load.
		{dir: "reload", config: "config.4.yaml", wantErr: `handler "anonymous" is disabled`},
		{dir: "reload", config: "config.5.yaml", rules: 1, edit: func(c *svcconfig.Config) {
			// Oathkeeper's reload script copies rules.3.1.json to rules.3.json.
			c.AccessRules.Repositories = []string{"file://./rules.3.1.json"}
		}},
		{dir: "bearer-token", config: "config.yaml", rules: 1},
		{dir: "forwarded-header", config: "config.yaml", rules: 1},
		{dir: "docker-compose", config: "config.yaml", rules: 3, edit: func(c *svcconfig.Config) {
			// The compose file mounts these at /etc/config/oathkeeper.
			c.AccessRules.Repositories = []string{"file://rules.json"}
			c.Mutators["id_token"].Config["jwks_url"] = "file://./jwks.json"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.config, func(t *testing.T) {
			s, err := compileDir(t, tt.dir, tt.config, tt.edit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Rules()) < tt.rules {
				t.Fatalf("%d rules", len(s.Rules()))
			}
		})
	}
}

// The e2e scenario of Oathkeeper (test/e2e): a valid RS256 token from
// jwks-authn.json passes jwt → allow → id_token; a junk token is 401.
func TestOathkeeperE2EScenario(t *testing.T) {
	s, err := compileDir(t, "e2e", "config.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	req := func(auth string) *pipeline.Request {
		return &pipeline.Request{Method: "GET", Scheme: "http", Host: "127.0.0.1:6661", RawPath: "/jwt", Header: pipeline.Header{"authorization": {auth}}}
	}
	d := s.Execute(context.Background(), req("Bearer not.valid.token"))
	if d.Allowed || d.Denial.Status != 401 {
		t.Fatalf("junk token: %+v", d)
	}

	// As Oathkeeper's okclient: signed with the private entry, kid of the
	// public entry, claims {sub: foobar, exp: now+1h}.
	set, err := jwk.ReadFile("jwks-authn.json")
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := set.LookupKeyID("01cf6f34-07a8-40b7-b536-5fede7e2323e")
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, "e1bd3f64-6bc4-42b9-a294-1e4590959eb3")
	tok, _ := jwt.NewBuilder().Subject("foobar").Expiration(time.Now().Add(time.Hour)).Build()
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	d = s.Execute(context.Background(), req("Bearer "+string(signed)))
	if !d.Allowed || d.Subject != "foobar" {
		t.Fatalf("valid token: %+v", d)
	}
	idt := strings.TrimPrefix(d.Session.Header.Get("authorization"), "Bearer ")
	idSet, err := jwk.ReadFile("jwks-idt.json")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicSetOf(idSet)
	if err != nil {
		t.Fatal(err)
	}
	minted, err := jwt.Parse([]byte(idt), jwt.WithKeySet(pub, jws.WithInferAlgorithmFromKey(true)))
	if err != nil || minted.Subject() != "foobar" || minted.Issuer() != "https://my-oathkeeper/" {
		t.Fatalf("minted id_token: %v %v", minted, err)
	}
}

func TestEveryOathkeeperHandlerIsRegistered(t *testing.T) {
	deps := builtin.NewDeps(nil)
	defer deps.Close()
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	want := map[pipeline.Kind][]string{
		pipeline.KindAuthenticator: {"anonymous", "cookie_session", "bearer_token", "jwt", "noop", "oauth2_client_credentials", "oauth2_introspection", "unauthorized"},
		pipeline.KindAuthorizer:    {"allow", "deny", "keto_engine_acp_ory", "remote", "remote_json"},
		pipeline.KindMutator:       {"cookie", "header", "id_token", "noop", "hydrator"},
		pipeline.KindErrorHandler:  {"json", "redirect", "www_authenticate"},
	}
	for k, names := range want {
		for _, n := range names {
			if !reg.Has(k, n) {
				t.Errorf("%s %q is not registered", k, n)
			}
		}
	}
}

func TestCoreHandlers(t *testing.T) {
	deps := builtin.NewDeps(nil)
	defer deps.Close()
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	on := func(names ...string) map[string]pipeline.HandlerConfig {
		m := map[string]pipeline.HandlerConfig{}
		for _, n := range names {
			m[n] = pipeline.HandlerConfig{Enabled: true}
		}
		return m
	}
	cfg := pipeline.Config{
		Authenticators: on("noop", "anonymous", "unauthorized"),
		Authorizers:    on("allow", "deny"),
		Mutators:       on("noop"),
		ErrorHandlers:  on("json"),
	}
	mk := func(id, path, authn, authz string, conf map[string]any) pipeline.RuleSpec {
		return pipeline.RuleSpec{ID: id, Match: &pipeline.MatchSpec{URL: "http://h" + path, Methods: []string{"GET"}},
			Authenticators: []pipeline.HandlerSpec{{Handler: authn, Config: conf}},
			Authorizer:     &pipeline.HandlerSpec{Handler: authz}, Mutators: []pipeline.HandlerSpec{{Handler: "noop"}}}
	}
	s, err := pipeline.Compile([]pipeline.RuleSpec{
		mk("noop", "/noop", "noop", "allow", nil),
		mk("anon", "/anon", "anonymous", "allow", map[string]any{"subject": "guest"}),
		mk("anon-default", "/anon-default", "anonymous", "allow", nil),
		mk("unauth", "/unauth", "unauthorized", "allow", nil),
		mk("deny", "/deny", "noop", "deny", nil),
	}, cfg, reg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, auth  string
		wantStatus  int
		wantSubject string
	}{
		{"/noop", "", 200, ""},
		{"/noop", "Bearer x", 200, ""},
		{"/anon", "", 200, "guest"},
		{"/anon-default", "", 200, "anonymous"},
		{"/anon", "Bearer x", 401, ""},
		{"/unauth", "", 401, ""},
		{"/deny", "", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.auth, func(t *testing.T) {
			r := &pipeline.Request{Method: "GET", Scheme: "http", Host: "h", RawPath: tt.path, Header: pipeline.Header{}}
			if tt.auth != "" {
				r.Header.Set("authorization", tt.auth)
			}
			d := s.Execute(context.Background(), r)
			status := d.Denial.Status
			if d.Allowed {
				status = 200
			}
			if status != tt.wantStatus || d.Subject != tt.wantSubject {
				t.Fatalf("status %d subject %q, want %d %q", status, d.Subject, tt.wantStatus, tt.wantSubject)
			}
		})
	}
	for _, h := range []string{"noop", "unauthorized"} {
		_, err := pipeline.Compile([]pipeline.RuleSpec{mk("x", "/x", h, "allow", map[string]any{"foo": 1})}, cfg, reg)
		if err == nil || !strings.Contains(err.Error(), `unknown field "foo"`) {
			t.Errorf("%s accepted an unknown key: %v", h, err)
		}
	}
}
