package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
)

const config = `
access_rules:
  repositories: [file://rules.yaml]
authenticators:
  anonymous: {enabled: true}
  unauthorized: {enabled: true}
authorizers:
  allow: {enabled: true}
  deny: {enabled: true}
mutators:
  noop: {enabled: true}
  header: {enabled: true}
log: {level: info, format: json}
`

const allowRules = `
- id: public
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators:
    - handler: header
      config: {headers: {X-User: "{{ print .Subject }}", X-Item: "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"}}
- id: admin
  match: {url: "https://api.test/admin/<.*>", methods: [GET, POST]}
  authenticators: [{handler: unauthorized}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`

func setup(t *testing.T, rules string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.yaml"), config)
	writeFile(t, filepath.Join(dir, "rules.yaml"), rules)
	return dir
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp~"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// envoyRequest builds a CheckRequest the way Envoy's ext_authz filter does:
// pseudo-headers in the map, the query inside path; raw=true uses
// encode_raw_headers' header_map with raw_value.
func envoyRequest(method, path string, headers map[string]string, raw bool) *authv3.CheckRequest {
	h := map[string]string{":authority": "api.test", ":method": method, ":path": path, ":scheme": "https",
		"x-forwarded-proto": "https", "x-request-id": "e2e-1", "user-agent": "curl/8.5.0"}
	for k, v := range headers {
		h[k] = v
	}
	http := &authv3.AttributeContext_HttpRequest{Id: "1234567890", Method: method, Path: path, Host: "api.test", Scheme: "https", Protocol: "HTTP/2"}
	if raw {
		http.HeaderMap = &corev3.HeaderMap{}
		for k, v := range h {
			http.HeaderMap.Headers = append(http.HeaderMap.Headers, &corev3.HeaderValue{Key: k, RawValue: []byte(v)})
		}
	} else {
		http.Headers = h
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}}}}},
		Request: &authv3.AttributeContext_Request{Http: http},
	}}
}

type outcome struct {
	status int // 200 for allow
	header map[string]string
}

func check(t *testing.T, c authv3.AuthorizationClient, req *authv3.CheckRequest) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Check(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	o := outcome{header: map[string]string{}}
	if resp.GetStatus().GetCode() == int32(code.Code_OK) {
		o.status = 200
		for _, h := range resp.GetOkResponse().GetHeaders() {
			if h.GetAppend() == nil || h.GetAppend().GetValue() {
				t.Errorf("header %s must be set with append=false", h.GetHeader().GetKey())
			}
			o.header[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
		}
		return o
	}
	o.status = int(resp.GetDeniedResponse().GetStatus().GetCode())
	for _, h := range resp.GetDeniedResponse().GetHeaders() {
		o.header[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	return o
}

func TestDecisionsOverGRPC(t *testing.T) {
	dir := setup(t, allowRules)
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml")
	c := authv3.NewAuthorizationClient(p.dial(t))
	for _, raw := range []bool{false, true} {
		form := "headers"
		if raw {
			form = "header_map"
		}
		tests := []struct {
			name, method, path string
			headers            map[string]string
			want               int
			wantHeader         map[string]string
		}{
			{name: "anonymous allowed with identity headers", method: "GET", path: "/public/42?x=1", headers: map[string]string{"x-user": "admin"},
				want: 200, wantHeader: map[string]string{"x-user": "anonymous", "x-item": "42"}},
			{name: "credentials present: anonymous not responsible", method: "GET", path: "/public/42", headers: map[string]string{"authorization": "Bearer x"}, want: 401},
			{name: "unauthorized authenticator", method: "POST", path: "/admin/users", want: 401},
			{name: "no rule", method: "GET", path: "/elsewhere", want: 404},
			{name: "method not allowed by rule", method: "DELETE", path: "/public/1", want: 404},
			{name: "traversal out of public", method: "GET", path: "/public/../admin/x", want: 401},
			{name: "encoded slash rejected", method: "GET", path: "/public/%2e%2e%2fadmin", want: 400},
		}
		for _, tt := range tests {
			t.Run(form+"/"+tt.name, func(t *testing.T) {
				o := check(t, c, envoyRequest(tt.method, tt.path, tt.headers, raw))
				if o.status != tt.want {
					t.Fatalf("status %d, want %d (%v)", o.status, tt.want, o.header)
				}
				for k, v := range tt.wantHeader {
					if o.header[k] != v {
						t.Errorf("%s = %q, want %q", k, o.header[k], v)
					}
				}
				if tt.want >= 400 && o.header["content-type"] != "application/json" {
					t.Errorf("denial content-type %q", o.header["content-type"])
				}
			})
		}
	}
	// Decision lines are buffered (flushed every 100 ms): wait for them.
	p.waitLog(t, `"msg":"decision"`)
	p.waitLog(t, `"rule_id":"public"`)
}

func TestHotReload(t *testing.T) {
	dir := setup(t, allowRules)
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml")
	c := authv3.NewAuthorizationClient(p.dial(t))
	if o := check(t, c, envoyRequest("GET", "/public/1", nil, false)); o.status != 200 {
		t.Fatalf("initial status %d", o.status)
	}

	writeFile(t, filepath.Join(dir, "rules.yaml"), strings.Replace(allowRules, "authorizer: {handler: allow}\n  mutators:\n    - handler: header", "authorizer: {handler: deny}\n  mutators:\n    - handler: header", 1))
	eventually(t, "the new rules in force", func() bool {
		return check(t, c, envoyRequest("GET", "/public/1", nil, false)).status == 403
	})

	writeFile(t, filepath.Join(dir, "rules.yaml"), `[{"id": "broken", "match": {"url": "https://api.test/<.*>", "methods": ["GET"]}, "authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"}, "mutators": [{"handler": "noop", "config": {"bogus": 1}}]}]`)
	p.waitLog(t, "rules rejected, previous rules stay in force")
	if !strings.Contains(p.logs(), `rules.yaml:1: rules[0] (id \"broken\"): mutators[0] (noop): config: unknown field \"bogus\"`) {
		t.Errorf("rejection does not name file, rule and field:\n%s", p.logs())
	}
	if o := check(t, c, envoyRequest("GET", "/public/1", nil, false)); o.status != 403 {
		t.Fatalf("invalid file replaced the rules: status %d", o.status)
	}
}

// The drain on SIGTERM is tested in lifecycle_test.go
// (TestShutdownDrainsEveryListener): a drain that lasts until a second
// signal replaced the 250ms window this test used to race.

func TestInvalidRulesAtStartupExitNonZero(t *testing.T) {
	dir := setup(t, "- id: bad\n  match: {url: 'https://api.test/<.*>', methods: [GET]}\n  authenticators: [{handler: jwtt}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n")
	out, code := run(t, dir, "serve", "--config", "config.yaml")
	if code == 0 || !strings.Contains(out, `rules.yaml:1: rules[0] (id "bad"): authenticators[0] (jwtt): unknown handler "jwtt" (did you mean "jwt"?)`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestRulesValidate(t *testing.T) {
	dir := setup(t, allowRules)
	if out, code := run(t, dir, "rules", "validate", "rules.yaml"); code != 0 || !strings.Contains(out, "2 rules OK") {
		t.Fatalf("exit %d: %s", code, out)
	}
	writeFile(t, filepath.Join(dir, "bad.json"), `[{"id":"a","match":{"url":"https://x/<[>","methods":["GET"]},"authenticators":[],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},{"id":"b","mach":{}}]`)
	out, code := run(t, dir, "rules", "validate", "bad.json")
	if code != 1 || !strings.Contains(out, `bad.json:1: rules[1] (id "b"): unknown field "mach" (did you mean "match"?)`) {
		t.Fatalf("exit %d: %s", code, out)
	}
	writeFile(t, filepath.Join(dir, "bad.json"), `[{"id":"a","match":{"url":"https://x/<[>","methods":["GET"]},"authenticators":[],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]}]`)
	out, code = run(t, dir, "rules", "validate", "bad.json")
	if code != 1 || !strings.Contains(out, `bad.json:1: rules[0] (id "a"): match.url`) || !strings.Contains(out, `bad.json:1: rules[0] (id "a"): authenticators: must not be empty`) {
		t.Fatalf("every error must be listed; exit %d: %s", code, out)
	}
	if out, code := run(t, "..", "rules", "validate", "examples/quickstart/rules.yaml"); code != 0 {
		t.Fatalf("quickstart rules: exit %d: %s", code, out)
	}
}

func TestQuickstartRunsWithoutConfig(t *testing.T) {
	p := startPortcullis(t, t.TempDir(), "serve")
	if !strings.Contains(p.logs(), "embedded quickstart") {
		t.Errorf("quickstart not announced:\n%s", p.logs())
	}
	c := authv3.NewAuthorizationClient(p.dial(t))
	if o := check(t, c, envoyRequest("GET", "/public/index.html", nil, false)); o.status != 200 || o.header["x-user"] != "guest" {
		t.Fatalf("public: %+v", o)
	}
	if o := check(t, c, envoyRequest("GET", "/admin", nil, false)); o.status != 403 {
		t.Fatalf("admin: %+v", o)
	}
}

func TestVersion(t *testing.T) {
	if out, code := run(t, ".", "version"); code != 0 || !strings.HasPrefix(out, "Version:") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
