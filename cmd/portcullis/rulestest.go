package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// ruleTestFile is the format of a rules test file (see README "Testing
// rules"). Paths are relative to the file.
type ruleTestFile struct {
	// Config is the service config; empty means the embedded quickstart.
	Config string `json:"config"`
	// Rules are rule files to test; empty means the config's file
	// repositories, resolved relative to the config file.
	Rules []string `json:"rules"`
	// Keys are signing keys generated for the run, by name: {{jwks
	// "name"}} in the config or rules is the URL of a JWKS holding the
	// public key, and a request's token is signed with one.
	Keys map[string]testKey `json:"keys"`
	// Stubs are canned HTTP answers served on 127.0.0.1 for the run (a
	// session endpoint, an introspection endpoint, a remote authorizer):
	// {{stub "name"}} in the config or rules is the stub's base URL.
	Stubs map[string]testStub `json:"stubs"`
	Tests []ruleTest          `json:"tests"`
}

type testKey struct {
	// Algorithm is RS256 (default) or ES256.
	Algorithm string `json:"algorithm"`
}

type testStub struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// Body is sent as is when it is a string, as JSON otherwise.
	Body any `json:"body"`
}

type ruleTest struct {
	Name    string          `json:"name"`
	Request testRequest     `json:"request"`
	Expect  testExpectation `json:"expect"`
}

type testRequest struct {
	explainRequest
	// Token, when set, is sent as "Authorization: Bearer <jwt>".
	Token *testToken `json:"token"`
}

type testToken struct {
	// Key names the signing key.
	Key string `json:"key"`
	// Claims are the token's claims; iat, nbf and exp (one hour from
	// now) are added unless given.
	Claims map[string]any `json:"claims"`
}

type testExpectation struct {
	// Decision is allow or deny.
	Decision string `json:"decision"`
	Status   int    `json:"status"`
	Reason   string `json:"reason"`
	Rule     string `json:"rule"`
	Subject  string `json:"subject"`
	// UpstreamHeaders must each be set on the upstream request to exactly
	// this value; "" means the header must not be set.
	UpstreamHeaders map[string]string `json:"upstream_headers"`
}

// ruleTestResult is one test's outcome, for the text and JSON reports.
type ruleTestResult struct {
	File     string                `json:"file"`
	Name     string                `json:"name"`
	Passed   bool                  `json:"passed"`
	Failures []ruleTestMismatch    `json:"failures,omitempty"`
	Explain  *pipeline.Explanation `json:"explain,omitempty"`
}

// ruleTestMismatch is one expected field that differs; "" is unset.
type ruleTestMismatch struct {
	Field string `json:"field"`
	Got   string `json:"got"`
	Want  string `json:"want"`
}

func rulesTestCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test FILE...",
		Short: "Run rule test files: each request's decision, status, reason, rule, subject and upstream headers against what the file expects",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRuleTests(cmd.Context(), cmd.OutOrStdout(), args, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// runRuleTests runs every file and reports; it fails when a file cannot
// be run or a test fails.
func runRuleTests(ctx context.Context, w io.Writer, files []string, asJSON bool) error {
	var results []ruleTestResult
	for _, f := range files {
		rs, err := runRuleTestFile(ctx, f)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		results = append(results, rs...)
	}
	failed := 0
	for _, r := range results {
		if !r.Passed {
			failed++
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		report := struct {
			Passed  int              `json:"passed"`
			Failed  int              `json:"failed"`
			Results []ruleTestResult `json:"results"`
		}{len(results) - failed, failed, results}
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else {
		writeRuleTestText(w, results)
		fmt.Fprintf(w, "%d passed, %d failed\n", len(results)-failed, failed)
	}
	if failed > 0 {
		return fmt.Errorf("rules test: %d of %s failed", failed, count(len(results), "test"))
	}
	return nil
}

func writeRuleTestText(w io.Writer, results []ruleTestResult) {
	for _, r := range results {
		if r.Passed {
			fmt.Fprintf(w, "ok    %s: %s\n", r.File, r.Name)
			continue
		}
		fmt.Fprintf(w, "FAIL  %s: %s\n", r.File, r.Name)
		for _, m := range r.Failures {
			got, want := quoteOrUnset(m.Got), quoteOrUnset(m.Want)
			if m.Field == "status" {
				got, want = m.Got, m.Want
			}
			fmt.Fprintf(w, "      %s: got %s, want %s\n", m.Field, got, want)
		}
		if r.Explain != nil {
			var b bytes.Buffer
			_ = r.Explain.WriteText(&b)
			fmt.Fprintln(w, "      explain:")
			for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
				fmt.Fprintf(w, "        %s\n", line)
			}
		}
	}
}

func runRuleTestFile(ctx context.Context, path string) ([]ruleTestResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf ruleTestFile
	if err := yaml.UnmarshalStrict(data, &tf); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(tf.Tests) == 0 {
		return nil, errors.New("tests: no tests in the file")
	}
	dir := filepath.Dir(path)
	fx, err := startFixtures(tf)
	if err != nil {
		return nil, err
	}
	defer fx.close()
	env, err := fx.ruleEnv(dir, tf)
	if err != nil {
		return nil, err
	}
	defer env.close()

	var out []ruleTestResult
	for i, t := range tf.Tests {
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("tests[%d]", i)
		}
		req := t.Request.explainRequest
		if t.Request.Token != nil {
			tok, err := fx.mint(*t.Request.Token)
			if err != nil {
				return nil, fmt.Errorf("%s: request.token: %w", name, err)
			}
			h := make(map[string]string, len(req.Headers)+1)
			for k, v := range req.Headers {
				h[k] = v
			}
			h["Authorization"] = "Bearer " + tok
			req.Headers = h
		}
		e, err := env.explain(ctx, req, pipeline.ExplainOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: request: %w", name, err)
		}
		res := ruleTestResult{File: path, Name: name, Failures: compareExpectation(t.Expect, e)}
		res.Passed = len(res.Failures) == 0
		if !res.Passed {
			res.Explain = &e
		}
		out = append(out, res)
	}
	return out, nil
}

// compareExpectation lists every expected field that differs.
func compareExpectation(want testExpectation, e pipeline.Explanation) []ruleTestMismatch {
	var out []ruleTestMismatch
	cmpField := func(field, got, want string) {
		if want != "" && got != want {
			out = append(out, ruleTestMismatch{field, got, want})
		}
	}
	a := e.Answer
	cmpField("decision", a.Decision, want.Decision)
	if want.Status != 0 && a.Status != want.Status {
		out = append(out, ruleTestMismatch{"status", fmt.Sprint(a.Status), fmt.Sprint(want.Status)})
	}
	cmpField("reason", a.Reason, want.Reason)
	cmpField("rule", e.Rule, want.Rule)
	cmpField("subject", a.Subject, want.Subject)
	names := make([]string, 0, len(want.UpstreamHeaders))
	for k := range want.UpstreamHeaders {
		names = append(names, k)
	}
	sort.Strings(names)
	set := pipeline.Header{}
	if a.Decision == "allow" {
		set = pipeline.Header(a.HeadersSet)
	}
	for _, k := range names {
		got := strings.Join(set.Values(k), ", ")
		if w := want.UpstreamHeaders[k]; got != w {
			out = append(out, ruleTestMismatch{"upstream header " + strings.ToLower(k), got, w})
		}
	}
	return out
}

func quoteOrUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return fmt.Sprintf("%q", s)
}

// fixtures are the keys and loopback servers of one test file.
type fixtures struct {
	keys    map[string]jwk.Key // private, with kid and alg
	urls    map[string]string  // "stub kratos", "jwks idp" → URL
	servers []*httptest.Server
}

func startFixtures(tf ruleTestFile) (*fixtures, error) {
	fx := &fixtures{keys: map[string]jwk.Key{}, urls: map[string]string{}}
	for name, k := range tf.Keys {
		key, err := newTestKey(name, k.Algorithm)
		if err != nil {
			fx.close()
			return nil, fmt.Errorf("keys.%s: %w", name, err)
		}
		fx.keys[name] = key
		pub, err := key.PublicKey()
		if err != nil {
			fx.close()
			return nil, fmt.Errorf("keys.%s: %w", name, err)
		}
		set := jwk.NewSet()
		_ = set.AddKey(pub)
		body, err := json.Marshal(set)
		if err != nil {
			fx.close()
			return nil, fmt.Errorf("keys.%s: %w", name, err)
		}
		fx.urls["jwks "+name] = fx.serve(http.StatusOK, map[string]string{"Content-Type": "application/json"}, body) + "/.well-known/jwks.json"
	}
	for name, s := range tf.Stubs {
		body, ok := s.Body.(string)
		if !ok && s.Body != nil {
			b, err := json.Marshal(s.Body)
			if err != nil {
				fx.close()
				return nil, fmt.Errorf("stubs.%s.body: %w", name, err)
			}
			body = string(b)
		}
		status := s.Status
		if status == 0 {
			status = http.StatusOK
		}
		fx.urls["stub "+name] = fx.serve(status, s.Headers, []byte(body))
	}
	return fx, nil
}

func newTestKey(name, alg string) (jwk.Key, error) {
	var raw any
	var err error
	switch alg {
	case "", "RS256":
		alg = "RS256"
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("algorithm %q: use RS256 or ES256", alg)
	}
	if err != nil {
		return nil, err
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, err
	}
	_ = key.Set(jwk.KeyIDKey, name)
	_ = key.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(alg))
	return key, nil
}

// serve starts a loopback server answering every request with one
// canned response, and returns its base URL.
func (fx *fixtures) serve(status int, headers map[string]string, body []byte) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	fx.servers = append(fx.servers, srv)
	return srv.URL
}

func (fx *fixtures) close() {
	for _, s := range fx.servers {
		s.Close()
	}
}

// mint signs a token with a declared key.
func (fx *fixtures) mint(t testToken) (string, error) {
	key, ok := fx.keys[t.Key]
	if !ok {
		return "", fmt.Errorf("key %q is not declared under keys", t.Key)
	}
	now := time.Now()
	claims := map[string]any{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range t.Claims {
		claims[k] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, key.KeyID())
	_ = hdr.Set(jws.TypeKey, "JWT")
	signed, err := jws.Sign(payload, jws.WithKey(key.Algorithm(), key, jws.WithProtectedHeaders(hdr)))
	return string(signed), err
}

// placeholder is {{stub "name"}} or {{jwks "name"}}. Rule files hold
// templates of their own, so these are replaced as text, not run through
// text/template.
var placeholder = regexp.MustCompile(`\{\{\s*(stub|jwks)\s+"([^"]+)"\s*\}\}`)

// substitute replaces the placeholders in data with the fixtures' URLs.
func (fx *fixtures) substitute(name string, data []byte) ([]byte, error) {
	var errs []error
	out := placeholder.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := placeholder.FindSubmatch(m)
		u, ok := fx.urls[string(sub[1])+" "+string(sub[2])]
		if !ok {
			kind := "stubs"
			if string(sub[1]) == "jwks" {
				kind = "keys"
			}
			errs = append(errs, fmt.Errorf("%s: %s: %q is not declared under %s", name, m, sub[2], kind))
			return m
		}
		return []byte(u)
	})
	return out, errors.Join(errs...)
}

// ruleEnv loads the config and rules of a test file with the placeholders
// replaced. Environment overrides are not applied: a test file means the
// same wherever it runs.
func (fx *fixtures) ruleEnv(dir string, tf ruleTestFile) (*ruleEnv, error) {
	var cfg *config.Config
	rulesDir := dir
	rules := tf.Rules
	if tf.Config == "" {
		c, _, _, err := loadConfig("")
		if err != nil {
			return nil, err
		}
		cfg = c
		if len(rules) == 0 {
			return nil, errors.New("rules: list the rule files to test (there is no config)")
		}
	} else {
		path := filepath.Join(dir, tf.Config)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if data, err = fx.substitute(path, data); err != nil {
			return nil, err
		}
		if cfg, _, err = config.Load(path, data, nil); err != nil {
			return nil, err
		}
		if len(rules) == 0 {
			_, repos, err := splitRepositories(cfg.AccessRules.Repositories)
			if err != nil {
				return nil, err
			}
			for _, r := range repos {
				p, ok := strings.CutPrefix(r, "file://")
				if !ok && strings.Contains(r, "://") {
					return nil, fmt.Errorf("config: repository %s: rules test reads files only; list the rule files under rules", r)
				}
				rules = append(rules, p)
			}
			rulesDir = filepath.Dir(path)
		}
	}
	var specs []pipeline.RuleSpec
	var errs []error
	for _, r := range rules {
		if !filepath.IsAbs(r) {
			r = filepath.Join(rulesDir, r)
		}
		data, err := os.ReadFile(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if data, err = fx.substitute(r, data); err != nil {
			errs = append(errs, err)
			continue
		}
		s, err := rulestore.DecodeRules(r, data)
		errs = append(errs, err)
		specs = append(specs, s...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return newRuleEnv(cfg, specs)
}
