package pipeline_test

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// fakeConfig is the config of every fake handler: a tag recorded when the
// handler runs and the outcome it produces.
type fakeConfig struct {
	Tag     string        `json:"tag"`
	Outcome string        `json:"outcome"` // "", "skip", "401", "403", "500", "plain"
	Subject string        `json:"subject"`
	When    pipeline.When `json:"when"`
}

func (c *fakeConfig) Validate() error {
	if c.Outcome == "invalid" {
		return errors.New("outcome: invalid")
	}
	return c.When.Validate()
}

func outcome(c fakeConfig) error {
	switch c.Outcome {
	case "skip":
		return pipeline.ErrSkip
	case "401":
		return pipeline.Unauthorized("fake_"+c.Tag, "", nil)
	case "403":
		return pipeline.Forbidden("", "", nil)
	case "500":
		return pipeline.Internal("", "", nil)
	case "plain":
		return errors.New("plain failure")
	}
	return nil
}

type traceKey struct{}

func trace(ctx context.Context, tag string) {
	if t, ok := ctx.Value(traceKey{}).(*[]string); ok {
		*t = append(*t, tag)
	}
}

func registry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "fake", func(c fakeConfig) (pipeline.Authenticator, error) {
		return pipeline.AuthenticatorFunc(func(ctx context.Context, _ *pipeline.Request, s *pipeline.Session) error {
			trace(ctx, "authn:"+c.Tag)
			if err := outcome(c); err != nil {
				s.Subject = "half-written"
				return err
			}
			s.Subject = c.Subject
			return nil
		}), nil
	})
	pipeline.RegisterAuthorizer(r, "fake", func(c fakeConfig) (pipeline.Authorizer, error) {
		return pipeline.AuthorizerFunc(func(ctx context.Context, _ *pipeline.Request, _ *pipeline.Session) error {
			trace(ctx, "authz:"+c.Tag)
			return outcome(c)
		}), nil
	})
	pipeline.RegisterMutator(r, "fake", func(c fakeConfig) (pipeline.Mutator, error) {
		return pipeline.MutatorFunc(func(ctx context.Context, _ *pipeline.Request, s *pipeline.Session) error {
			trace(ctx, "mutate:"+c.Tag)
			s.SetHeader("x-"+c.Tag, s.Subject)
			return outcome(c)
		}), nil
	})
	pipeline.RegisterErrorHandler(r, "fake", func(c fakeConfig) (pipeline.ErrorHandler, error) {
		return &fakeErrors{c}, nil
	})
	return r
}

type fakeErrors struct{ c fakeConfig }

func (f *fakeErrors) Handles(r *pipeline.Request, err error) bool { return f.c.When.Match(r, err) }
func (f *fakeErrors) HandleError(ctx context.Context, _ *pipeline.Request, err error) (pipeline.Denial, error) {
	trace(ctx, "error:"+f.c.Tag)
	return pipeline.Denial{Status: pipeline.StatusOf(err), Header: pipeline.Header{"x-handler": {f.c.Tag}}}, nil
}

func enabled() map[string]pipeline.HandlerConfig {
	return map[string]pipeline.HandlerConfig{"fake": {Enabled: true, Config: map[string]any{"tag": "global"}}}
}

func config() pipeline.Config {
	return pipeline.Config{Authenticators: enabled(), Authorizers: enabled(), Mutators: enabled(), ErrorHandlers: enabled(), ErrorFallback: []string{"fake"}}
}

func h(tag, out string) pipeline.HandlerSpec {
	return pipeline.HandlerSpec{Handler: "fake", Config: map[string]any{"tag": tag, "outcome": out, "subject": "sub-" + tag}}
}

func rule(id, url string, authn []pipeline.HandlerSpec) pipeline.RuleSpec {
	return pipeline.RuleSpec{
		ID: id, Source: "rules.yaml",
		Match:          &pipeline.MatchSpec{URL: url, Methods: []string{"GET"}},
		Authenticators: authn,
		Authorizer:     &pipeline.HandlerSpec{Handler: "fake", Config: map[string]any{"tag": "z"}},
		Mutators:       []pipeline.HandlerSpec{{Handler: "fake", Config: map[string]any{"tag": "m"}}},
	}
}

func get(path string) *pipeline.Request {
	p, q := pipeline.SplitPathQuery(path)
	return &pipeline.Request{Method: "GET", Scheme: "https", Host: "api.test", RawPath: p, RawQuery: q, Header: pipeline.Header{}}
}

func run(t *testing.T, s *pipeline.Snapshot, r *pipeline.Request) (pipeline.Decision, []string) {
	t.Helper()
	var tr []string
	d := s.Execute(context.WithValue(context.Background(), traceKey{}, &tr), r)
	return d, tr
}

func mustCompile(t *testing.T, specs ...pipeline.RuleSpec) *pipeline.Snapshot {
	t.Helper()
	s, err := pipeline.Compile(specs, config(), registry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthenticatorChain(t *testing.T) {
	tests := []struct {
		name        string
		authn       []pipeline.HandlerSpec
		wantAllowed bool
		wantStatus  int
		wantSubject string
		wantTrace   string
		wantReason  string
	}{
		{name: "first responsible wins", authn: []pipeline.HandlerSpec{h("a", ""), h("b", "")},
			wantAllowed: true, wantSubject: "sub-a", wantTrace: "authn:a authz:z mutate:m", wantReason: "allowed"},
		{name: "not responsible passes on", authn: []pipeline.HandlerSpec{h("a", "skip"), h("b", "")},
			wantAllowed: true, wantSubject: "sub-b", wantTrace: "authn:a authn:b authz:z mutate:m", wantReason: "allowed"},
		{name: "an error stops the chain", authn: []pipeline.HandlerSpec{h("a", "401"), h("b", "")},
			wantStatus: 401, wantTrace: "authn:a error:global", wantReason: "fake_a"},
		{name: "nobody responsible is 401", authn: []pipeline.HandlerSpec{h("a", "skip"), h("b", "skip")},
			wantStatus: 401, wantTrace: "authn:a authn:b error:global", wantReason: pipeline.ReasonNoAuthenticator},
		{name: "plain error is internal", authn: []pipeline.HandlerSpec{h("a", "plain")},
			wantStatus: 500, wantTrace: "authn:a error:global", wantReason: pipeline.ReasonAuthnFailed},
		{name: "fallthrough lets the next one try", authn: []pipeline.HandlerSpec{withFallthrough(h("a", "401")), h("b", "")},
			wantAllowed: true, wantSubject: "sub-b", wantTrace: "authn:a authn:b authz:z mutate:m", wantReason: "allowed"},
		{name: "fallthrough failure is reported when nobody succeeds", authn: []pipeline.HandlerSpec{withFallthrough(h("a", "401")), h("b", "skip")},
			wantStatus: 401, wantTrace: "authn:a authn:b error:global", wantReason: "fake_a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustCompile(t, rule("r1", "https://api.test/<.*>", tt.authn))
			d, tr := run(t, s, get("/x"))
			if d.Allowed != tt.wantAllowed || d.Reason != tt.wantReason || strings.Join(tr, " ") != tt.wantTrace {
				t.Fatalf("allowed=%v reason=%q trace=%q; want %v %q %q", d.Allowed, d.Reason, strings.Join(tr, " "), tt.wantAllowed, tt.wantReason, tt.wantTrace)
			}
			if tt.wantAllowed {
				if d.Subject != tt.wantSubject || d.Session.Header.Get("x-m") != tt.wantSubject {
					t.Fatalf("subject %q header %q, want %q", d.Subject, d.Session.Header.Get("x-m"), tt.wantSubject)
				}
			} else if d.Denial.Status != tt.wantStatus || d.RuleID != "r1" {
				t.Fatalf("status %d rule %q, want %d r1", d.Denial.Status, d.RuleID, tt.wantStatus)
			}
		})
	}
}

func withFallthrough(s pipeline.HandlerSpec) pipeline.HandlerSpec { s.Fallthrough = true; return s }

func TestAuthorizersAllMustAllowAndMutatorsRunInOrder(t *testing.T) {
	spec := rule("r1", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")})
	spec.Authorizer = nil
	spec.Authorizers = []pipeline.HandlerSpec{h("z1", ""), h("z2", "403"), h("z3", "")}
	s := mustCompile(t, spec)
	d, tr := run(t, s, get("/x"))
	if d.Allowed || d.Denial.Status != 403 || strings.Join(tr, " ") != "authn:a authz:z1 authz:z2 error:global" {
		t.Fatalf("got %+v trace %v", d, tr)
	}
	if d.Handler != "fake" || d.Reason != pipeline.ReasonAuthzDenied {
		t.Fatalf("handler %q reason %q", d.Handler, d.Reason)
	}

	spec = rule("r1", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")})
	spec.Mutators = []pipeline.HandlerSpec{h("m1", ""), h("m2", ""), h("m3", "500")}
	d, tr = run(t, mustCompile(t, spec), get("/x"))
	if d.Allowed || d.Denial.Status != 500 || strings.Join(tr, " ") != "authn:a authz:z mutate:m1 mutate:m2 mutate:m3 error:global" {
		t.Fatalf("got %+v trace %v", d, tr)
	}
}

func TestMatchingOutcomes(t *testing.T) {
	a := rule("api", "https://api.test/api/<.*>", []pipeline.HandlerSpec{h("a", "")})
	b := rule("admin", "https://api.test/api/admin/<.*>", []pipeline.HandlerSpec{h("b", "")})
	s := mustCompile(t, a, b)
	tests := []struct {
		name, path string
		status     int
		reason     string
		rule       string
	}{
		{"no rule", "/other", 404, pipeline.ReasonNoRule, ""},
		{"ambiguous", "/api/admin/x", 500, pipeline.ReasonAmbiguous, ""},
		{"one rule", "/api/x?admin/x", 200, pipeline.ReasonAllowed, "api"},
		{"dot segments resolve before matching", "/api/admin/../x", 200, pipeline.ReasonAllowed, "api"},
		{"malformed path is 400", "/api/%2e%2e%2Fadmin", 400, pipeline.ReasonMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := run(t, s, get(tt.path))
			status := d.Denial.Status
			if d.Allowed {
				status = 200
			}
			if status != tt.status || d.Reason != tt.reason || d.RuleID != tt.rule {
				t.Fatalf("status %d reason %q rule %q (err %v); want %d %q %q", status, d.Reason, d.RuleID, d.Err, tt.status, tt.reason, tt.rule)
			}
			if tt.reason == pipeline.ReasonAmbiguous && !(strings.Contains(d.Err.Error(), `"api"`) && strings.Contains(d.Err.Error(), `"admin"`)) {
				t.Fatalf("ambiguity error must name both rules: %v", d.Err)
			}
		})
	}
}

func TestNoMatchStatusIsConfigurable(t *testing.T) {
	cfg := config()
	cfg.NoMatchStatus = 403
	s, err := pipeline.Compile([]pipeline.RuleSpec{rule("r", "https://api.test/x", []pipeline.HandlerSpec{h("a", "")})}, cfg, registry())
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := run(t, s, get("/y")); d.Denial.Status != 403 {
		t.Fatalf("status %d, want 403", d.Denial.Status)
	}
	cfg.NoMatchStatus = 200
	if _, err := pipeline.Compile(nil, cfg, registry()); err == nil || !strings.Contains(err.Error(), "no_match_status") {
		t.Fatalf("err = %v, want no_match_status error", err)
	}
}

func TestErrorHandlerSelection(t *testing.T) {
	json := map[string]any{"request": map[string]any{"header": map[string]any{"accept": []any{"application/json"}}}}
	spec := rule("r", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "401")})
	spec.Errors = []pipeline.HandlerSpec{
		{Handler: "fake", Config: map[string]any{"tag": "forbidden-only", "when": []any{map[string]any{"error": []any{"forbidden"}}}}},
		{Handler: "fake", Config: map[string]any{"tag": "json-clients", "when": []any{json}}},
	}
	s := mustCompile(t, spec)

	r := get("/x")
	r.Header.Set("accept", "application/json")
	if d, tr := run(t, s, r); d.Denial.Header.Get("x-handler") != "json-clients" {
		t.Fatalf("json client: handler %q trace %v", d.Denial.Header.Get("x-handler"), tr)
	}
	if d, _ := run(t, s, get("/x")); d.Denial.Header.Get("x-handler") != "global" {
		t.Fatalf("no rule handler matched: want fallback, got %q", d.Denial.Header.Get("x-handler"))
	}
}

func TestNilSnapshotDeniesUnavailable(t *testing.T) {
	var s *pipeline.Snapshot
	d := s.Execute(context.Background(), get("/x"))
	if d.Allowed || d.Denial.Status != http.StatusServiceUnavailable || d.Reason != pipeline.ReasonNoSnapshot {
		t.Fatalf("got %+v", d)
	}
}

func TestCanceledContextDenies(t *testing.T) {
	s := mustCompile(t, rule("r", "https://api.test/<.*>", []pipeline.HandlerSpec{h("a", "")}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d := s.Execute(ctx, get("/x")); d.Allowed {
		t.Fatal("canceled request allowed")
	}
}

func TestCompileErrorsNameFileRuleAndField(t *testing.T) {
	good := rule("good", "https://api.test/a", []pipeline.HandlerSpec{h("a", "")})
	noAuthn := rule("no-authn", "https://api.test/b", nil)
	badCfg := rule("bad-cfg", "https://api.test/c", []pipeline.HandlerSpec{{Handler: "fake", Config: map[string]any{"nope": 1}}})
	invalid := rule("invalid", "https://api.test/d", []pipeline.HandlerSpec{h("a", "invalid")})
	unknown := rule("unknown", "https://api.test/e", []pipeline.HandlerSpec{{Handler: "jwtt"}})
	notYet := rule("not-yet", "https://api.test/f", []pipeline.HandlerSpec{{Handler: "jwt"}})
	badURL := rule("bad-url", "https://api.test/<[a-", []pipeline.HandlerSpec{h("a", "")})
	dup := rule("good", "https://api.test/g", []pipeline.HandlerSpec{h("a", "")})
	same := rule("same", "https://api.test/a", []pipeline.HandlerSpec{h("a", "")})
	both := rule("both", "https://api.test/h", []pipeline.HandlerSpec{h("a", "")})
	both.Authorizers = []pipeline.HandlerSpec{h("z", "")}
	for i, r := range []*pipeline.RuleSpec{&good, &noAuthn, &badCfg, &invalid, &unknown, &notYet, &badURL, &dup, &same, &both} {
		r.Index = i
	}
	_, err := pipeline.Compile([]pipeline.RuleSpec{good, noAuthn, badCfg, invalid, unknown, notYet, badURL, dup, same, both}, config(), registry())
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`rules.yaml: rules[1] (id "no-authn"): authenticators: must not be empty`,
		`rules.yaml: rules[2] (id "bad-cfg"): authenticators[0] (fake): config: unknown field "nope"`,
		`rules.yaml: rules[3] (id "invalid"): authenticators[0] (fake): config: outcome: invalid`,
		`rules.yaml: rules[4] (id "unknown"): authenticators[0] (jwtt): unknown handler "jwtt" (known: fake)`,
		`rules.yaml: rules[5] (id "not-yet"): authenticators[0] (jwt): handler "jwt" is not implemented yet`,
		`rules.yaml: rules[6] (id "bad-url"): match.url:`,
		`rules.yaml: rules[7] (id "good"): duplicate rule id "good" (also rules.yaml: rules[0] (id "good"))`,
		`rules.yaml: rules[8] (id "same"): match GET https://api.test/a conflicts with rules.yaml: rules[0] (id "good")`,
		`rules.yaml: rules[9] (id "both"): authorizer and authorizers: set one, not both`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	var fe *pipeline.FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Path, "rules.yaml: rules[") {
		t.Errorf("errors must be *FieldError with a path, got %T", err)
	}
}

func TestDisabledHandlerIsAnError(t *testing.T) {
	cfg := config()
	cfg.Authenticators = map[string]pipeline.HandlerConfig{"fake": {Enabled: false}}
	_, err := pipeline.Compile([]pipeline.RuleSpec{rule("r", "https://api.test/a", []pipeline.HandlerSpec{h("a", "")})}, cfg, registry())
	if err == nil || !strings.Contains(err.Error(), `handler "fake" is disabled: enable it with authenticators.fake.enabled`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRuleConfigDeepMergesOverGlobal(t *testing.T) {
	base := map[string]any{"a": map[string]any{"x": 1, "y": 2}, "list": []any{"g1", "g2"}, "s": "global"}
	over := map[string]any{"a": map[string]any{"y": 3}, "list": []any{"r1"}}
	got := pipeline.MergeConfig(base, over)
	a := got["a"].(map[string]any)
	if a["x"] != 1 || a["y"] != 3 || len(got["list"].([]any)) != 1 || got["s"] != "global" {
		t.Fatalf("merged = %v", got)
	}
	if base["a"].(map[string]any)["y"] != 2 {
		t.Fatal("base was modified")
	}
}

func TestDuplicateRegistrationPanics(t *testing.T) {
	r := registry()
	defer func() {
		if recover() == nil {
			t.Fatal("want panic")
		}
	}()
	pipeline.RegisterAuthenticator(r, "fake", func(struct{}) (pipeline.Authenticator, error) { return nil, nil })
}

// pipeline is the bottom layer: only the standard library, its own
// subpackages, and the two matching engines.
func TestPipelineImportsStayLow(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(p, "github.com/portcullis-authz/portcullis/pipeline"),
			strings.HasPrefix(p, "github.com/dlclark/regexp2"),
			strings.HasPrefix(p, "github.com/gobwas/glob"):
		default:
			t.Errorf("pipeline depends on %s", p)
		}
	}
}

func BenchmarkExecuteAllow(b *testing.B) {
	s, err := pipeline.Compile([]pipeline.RuleSpec{rule("r", "https://api.test/users/<[0-9]+>", []pipeline.HandlerSpec{h("a", "")})}, config(), registry())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r := get("/users/42")
		if d := s.Execute(ctx, r); !d.Allowed {
			b.Fatal(d.Err)
		}
	}
}

func TestContextExtensionSelectsRule(t *testing.T) {
	a := rule("orders-read", "https://api.test/orders/<[0-9]+>", []pipeline.HandlerSpec{h("a", "")})
	b := rule("other", "https://api.test/other", []pipeline.HandlerSpec{h("b", "")})
	s := mustCompile(t, a, b)
	tests := []struct {
		name, id, path, method string
		wantRule               string
		wantStatus             int
		wantCaptures           []string
	}{
		{"named rule with captures", "orders-read", "/orders/7", "GET", "orders-read", 200, []string{"7"}},
		{"URL the named rule does not match", "orders-read", "/elsewhere", "GET", "", 404, nil},
		{"unknown id matches nothing", "nope", "/orders/7", "GET", "", 404, nil},
		{"methods still apply", "orders-read", "/orders/7", "POST", "", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(tt.path)
			r.Method = tt.method
			r.Context = map[string]string{pipeline.ContextRuleID: tt.id}
			d, _ := run(t, s, r)
			status := d.Denial.Status
			if d.Allowed {
				status = 200
				if got := d.Session.MatchContext.RegexpCaptureGroups; strings.Join(got, ",") != strings.Join(tt.wantCaptures, ",") {
					t.Errorf("captures %q, want %q", got, tt.wantCaptures)
				}
			}
			if status != tt.wantStatus || d.RuleID != tt.wantRule {
				t.Fatalf("status %d rule %q, want %d %q", status, d.RuleID, tt.wantStatus, tt.wantRule)
			}
		})
	}
}

func TestWhenCIDRAcceptsBothShapes(t *testing.T) {
	for name, cfg := range map[string]map[string]any{
		"schema list": {"cidr": []any{"10.0.0.0/8"}},
		"code object": {"remote_ip": map[string]any{"match": []any{"10.0.0.0/8"}}},
		"object cidr": {"cidr": map[string]any{"match": []any{"10.1.2.3"}}},
	} {
		t.Run(name, func(t *testing.T) {
			var c struct {
				When pipeline.When `json:"when"`
			}
			if err := pipeline.MapDecoder(map[string]any{"when": []any{map[string]any{"request": cfg}}}).Decode(&c); err != nil {
				t.Fatal(err)
			}
			if err := c.When.Validate(); err != nil {
				t.Fatal(err)
			}
			in := &pipeline.Request{Source: pipeline.Peer{Address: "10.1.2.3"}, Header: pipeline.Header{}}
			out := &pipeline.Request{Source: pipeline.Peer{Address: "192.0.2.1"}, Header: pipeline.Header{}}
			if !c.When.Match(in, pipeline.ErrUnauthorized) || c.When.Match(out, pipeline.ErrUnauthorized) {
				t.Fatal("cidr condition not applied")
			}
		})
	}
}

func TestSkipReasonReachesTheDecision(t *testing.T) {
	r := registry()
	pipeline.RegisterAuthenticator(r, "mtls_like", func(struct{}) (pipeline.Authenticator, error) {
		return pipeline.AuthenticatorFunc(func(context.Context, *pipeline.Request, *pipeline.Session) error {
			return pipeline.Unauthorized("mtls_required", "", pipeline.ErrSkip)
		}), nil
	})
	cfg := config()
	cfg.Authenticators["mtls_like"] = pipeline.HandlerConfig{Enabled: true}
	s, err := pipeline.Compile([]pipeline.RuleSpec{rule("r", "https://api.test/<.*>", []pipeline.HandlerSpec{{Handler: "mtls_like"}, h("b", "skip")})}, cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := run(t, s, get("/x"))
	if d.Allowed || d.Denial.Status != 401 || d.Reason != "mtls_required" {
		t.Fatalf("status %d reason %q", d.Denial.Status, d.Reason)
	}
}

// SECURITY_CASES B-10: /admin/ is matched as /admin, which a rule for
// /admin/<.*> misses; a broader rule must not silently take it.
func TestTrailingSlashCannotFallThroughToABroaderRule(t *testing.T) {
	adm := rule("adm", "https://api.test/admin/<.*>", []pipeline.HandlerSpec{h("adm", "401")})
	anyRule := rule("any", "https://api.test/<.*>", []pipeline.HandlerSpec{h("any", "")})
	s := mustCompile(t, adm, anyRule)
	d, _ := run(t, s, get("/admin/"))
	if d.Allowed || d.Reason != pipeline.ReasonAmbiguous {
		t.Fatalf("/admin/: allowed=%v reason=%q", d.Allowed, d.Reason)
	}
	// Without the broader rule, Oathkeeper's cleaning stands: no match.
	only := mustCompile(t, adm)
	if d, _ := run(t, only, get("/admin/")); d.Allowed || d.Denial.Status != 404 {
		t.Fatalf("/admin/ alone: %+v", d)
	}
	// Where both forms select the same rule nothing changes.
	single := mustCompile(t, rule("adm2", "https://api.test/admin<(/.*)?>", []pipeline.HandlerSpec{h("a", "")}))
	if d, _ := run(t, single, get("/admin/")); !d.Allowed || d.RuleID != "adm2" {
		t.Fatalf("/admin/ with the documented pattern: %+v", d)
	}
}

func TestWarnsWhenAPrefixRuleMissesItsBarePath(t *testing.T) {
	s := mustCompile(t, rule("adm", "https://api.test/admin/<.*>", []pipeline.HandlerSpec{h("a", "")}))
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "write https://api.test/admin<(/.*)?>") {
		t.Fatalf("warnings %q", s.Warnings)
	}
}
