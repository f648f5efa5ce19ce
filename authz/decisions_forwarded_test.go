package authz_test

// The decision API judges what a trusted proxy says: forwarded headers
// from other peers are refused, and forwarded headers that state one fact
// two ways are refused rather than one of them picked. Every case goes
// through a real HTTP server on a loopback address, with raw requests so
// that repeated header fields and request targets are sent exactly.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// fwdRules: a permissive public area and a protected admin area on
// api.test (either scheme), an https-only area, and a permissive second
// host. Spoofing any one forwarded fact turns a 401 into a 200.
const fwdRules = `
- id: public
  match: {url: "<https?>://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators:
    - handler: header
      config: {headers: {X-User: "{{ print .Subject }}"}}
- id: admin
  match: {url: "<https?>://api.test/admin/<.*>", methods: [GET, POST, DELETE]}
  authenticators: [{handler: unauthorized}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: tls-only
  match: {url: "https://api.test/tls/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: internal
  match: {url: "<https?>://internal.test/<.*>", methods: [GET, POST, DELETE]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`

func fwdSnapshot(t testing.TB) *pipeline.Snapshot {
	t.Helper()
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	cfg, _, err := config.Load("test.yaml", []byte(`
authenticators: {anonymous: {enabled: true}, unauthorized: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators: {noop: {enabled: true}, header: {enabled: true}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("rules.yaml", []byte(fwdRules))
	if err != nil {
		t.Fatal(err)
	}
	s, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fwdServer is the HTTP API on a loopback address, its decision log
// observed.
type fwdServer struct {
	addr string
	logs *observer.ObservedLogs
}

// newFwdServer serves the decision API on listen ("127.0.0.1" or "::1")
// with the given trust; nil trust is the default.
func newFwdServer(t *testing.T, listen string, trust *authz.ForwardedTrust) *fwdServer {
	t.Helper()
	st := &store{}
	st.s.Store(fwdSnapshot(t))
	core, logs := observer.New(zap.InfoLevel)
	c := authz.NewChecker(st, zap.New(core), nil, testBudget)
	srv := httptest.NewUnstartedServer(authz.NewAPIHandler(st, nil, authz.APIOptions{Decisions: c.Decisions(authz.DecisionsOptions{Forwarded: trust})}))
	lis, err := net.Listen("tcp", net.JoinHostPort(listen, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = lis
	srv.Start()
	t.Cleanup(srv.Close)
	return &fwdServer{addr: lis.Addr().String(), logs: logs}
}

func fwdTrust(t *testing.T, proxies, headers []string) *authz.ForwardedTrust {
	t.Helper()
	tr, err := authz.NewForwardedTrust(proxies, headers)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// fwdCall is one raw decision call.
type fwdCall struct {
	from   string // local address to dial from; "" is the system's choice
	method string // default GET
	target string // default /decisions
	host   string // default portcullis.internal, which no rule matches
	header [][2]string
}

// fwdResult is the answer and the decision logged for it.
type fwdResult struct {
	status      int
	user        string // X-User from the allowed answer
	reason, err string // from the decision log line
}

func (s *fwdServer) do(t *testing.T, c fwdCall) fwdResult {
	t.Helper()
	if c.method == "" {
		c.method = "GET"
	}
	if c.target == "" {
		c.target = authz.DecisionsPath
	}
	if c.host == "" {
		c.host = "portcullis.internal"
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	if c.from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(c.from)}
	}
	conn, err := d.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", c.method, c.target, c.host)
	for _, h := range c.header {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	// The decision is logged before the answer is written.
	r := fwdResult{status: resp.StatusCode, user: resp.Header.Get("X-User")}
	var lines []observer.LoggedEntry
	for _, e := range s.logs.TakeAll() {
		if e.Message == "decision" {
			lines = append(lines, e)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d decision log lines, want 1", len(lines))
	}
	m := lines[0].ContextMap()
	r.reason, _ = m["reason"].(string)
	r.err, _ = m["error"].(string)
	return r
}

// fwdCase is one call and what must come of it.
type fwdCase struct {
	name       string
	call       fwdCall
	wantStatus int
	wantUser   string // for 200s
	wantErr    string // part of the logged error, for 400s
}

func runFwdCases(t *testing.T, s *fwdServer, cases []fwdCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			got := s.do(t, tt.call)
			if got.status != tt.wantStatus {
				t.Fatalf("status %d (reason %s, error %q), want %d", got.status, got.reason, got.err, tt.wantStatus)
			}
			if got.user != tt.wantUser {
				t.Errorf("X-User %q, want %q", got.user, tt.wantUser)
			}
			if tt.wantStatus == http.StatusBadRequest && got.reason != pipeline.ReasonMalformed {
				t.Errorf("reason %q, want %q", got.reason, pipeline.ReasonMalformed)
			}
			if !strings.Contains(got.err, tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", got.err, tt.wantErr)
			}
		})
	}
}

// fwdHeaders builds a header list from name, value pairs.
func fwdHeaders(kv ...string) [][2]string {
	var out [][2]string
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

// nginxStyle is what the nginx e2e configuration sends for a request.
func nginxStyle(method, uri string, extra ...string) [][2]string {
	return fwdHeaders(append([]string{"X-Forwarded-Method", method, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.test", "X-Forwarded-Uri", uri}, extra...)...)
}

// An Envoy in HTTP mode (path_prefix /decisions) that is not a trusted
// proxy passes its client's own headers through: they must not choose the
// request judged. Before the trust config every forwarded header from any
// peer was believed, and these calls were answered 200.
func TestDecisionsUntrustedPeerCannotForward(t *testing.T) {
	s := newFwdServer(t, "127.0.0.1", fwdTrust(t, []string{"127.0.0.2/32"}, authz.DefaultForwardedHeaders()))
	envoy := func(method, target string, header ...string) fwdCall {
		return fwdCall{from: "127.0.0.1", method: method, target: target, host: "api.test", header: fwdHeaders(header...)}
	}
	runFwdCases(t, s, []fwdCase{
		{name: "X-Forwarded-Uri to a permissive rule", call: envoy("GET", "/decisions/admin/x", "X-Forwarded-Uri", "/public/x"),
			wantStatus: 400, wantErr: "X-Forwarded-Uri sent by 127.0.0.1:"},
		{name: "X-Original-Uri to a permissive rule", call: envoy("GET", "/decisions/admin/x", "X-Original-Uri", "/public/x"),
			wantStatus: 400, wantErr: "not in serve.api.forwarded.trusted_proxies"},
		{name: "X-Forwarded-Host to a permissive host", call: envoy("GET", "/decisions/admin/x", "X-Forwarded-Host", "internal.test"),
			wantStatus: 400, wantErr: "X-Forwarded-Host sent by"},
		{name: "X-Forwarded-Method to a permitted method", call: envoy("POST", "/decisions/public/x", "X-Forwarded-Method", "GET"),
			wantStatus: 400, wantErr: "X-Forwarded-Method sent by"},
		{name: "X-Forwarded-Proto to an https-only rule", call: envoy("GET", "/decisions/tls/x", "X-Forwarded-Proto", "https"),
			wantStatus: 400, wantErr: "X-Forwarded-Proto sent by"},
		{name: "Forwarded alone", call: envoy("GET", "/decisions/admin/x", "Forwarded", "host=internal.test"),
			wantStatus: 400, wantErr: "Forwarded sent by"},
		{name: "an empty forwarded header counts too", call: envoy("GET", "/decisions/admin/x", "X-Forwarded-Uri", ""),
			wantStatus: 400, wantErr: "X-Forwarded-Uri sent by"},
		// Without forwarded headers the call itself is judged: Envoy's
		// path_prefix mode works from any peer.
		{name: "the call itself: protected", call: envoy("GET", "/decisions/admin/x"), wantStatus: 401},
		{name: "the call itself: public", call: envoy("GET", "/decisions/public/x?q=1"), wantStatus: 200, wantUser: "anonymous"},
		{name: "the call itself: its method", call: envoy("POST", "/decisions/public/x"), wantStatus: 404},
		// Headers the decision API never reads are ordinary headers.
		{name: "X-Original-URL and X-Rewrite-URL are not read", call: envoy("GET", "/decisions/admin/x",
			"X-Original-URL", "/public/x", "X-Rewrite-URL", "/public/x", "X-Forwarded-Prefix", "/public"), wantStatus: 401},
		// The trusted proxy at 127.0.0.2 is believed.
		{name: "trusted proxy", call: fwdCall{from: "127.0.0.2", header: nginxStyle("GET", "/public/x")}, wantStatus: 200, wantUser: "anonymous"},
	})
}

// Headers left out of serve.api.forwarded.headers are not forwarded
// headers at all: neither read nor refused.
func TestDecisionsForwardedHeadersList(t *testing.T) {
	s := newFwdServer(t, "127.0.0.1", fwdTrust(t, authz.DefaultTrustedProxies(),
		[]string{"x-forwarded-method", "X-FORWARDED-PROTO", "X-Forwarded-Host", "X-Forwarded-Uri"}))
	runFwdCases(t, s, []fwdCase{
		{name: "unlisted X-Original-Uri is ignored, not a conflict", call: fwdCall{header: nginxStyle("GET", "/admin/x", "X-Original-Uri", "/public/x")}, wantStatus: 401},
		{name: "unlisted Forwarded is ignored", call: fwdCall{header: nginxStyle("GET", "/public/x", "Forwarded", "host=evil.test")}, wantStatus: 200, wantUser: "anonymous"},
		{name: "listed headers are read", call: fwdCall{header: nginxStyle("GET", "/public/x")}, wantStatus: 200, wantUser: "anonymous"},
	})

	none := newFwdServer(t, "127.0.0.1", fwdTrust(t, authz.DefaultTrustedProxies(), nil))
	runFwdCases(t, none, []fwdCase{
		{name: "no header listed: Envoy mode with the client's headers", call: fwdCall{target: "/decisions/admin/x", host: "api.test",
			header: fwdHeaders("X-Forwarded-Uri", "/public/x", "X-Forwarded-Host", "internal.test")}, wantStatus: 401},
	})
}

// A trusted proxy keeps Oathkeeper's precedence.
func TestDecisionsTrustedPrecedence(t *testing.T) {
	s := newFwdServer(t, "127.0.0.1", nil)
	runFwdCases(t, s, []fwdCase{
		{name: "nginx: all four forwarded headers", call: fwdCall{header: nginxStyle("GET", "/public/x?q=1")}, wantStatus: 200, wantUser: "anonymous"},
		{name: "X-Forwarded-Host over Host", call: fwdCall{host: "internal.test", header: nginxStyle("GET", "/admin/x")}, wantStatus: 401},
		{name: "X-Forwarded-Uri over the empty path after /decisions", call: fwdCall{header: nginxStyle("GET", "/admin/x")}, wantStatus: 401},
		{name: "X-Forwarded-Method over the call's method", call: fwdCall{method: "GET", header: nginxStyle("DELETE", "/public/x")}, wantStatus: 404},
		{name: "X-Forwarded-Method over the call's method, the other way", call: fwdCall{method: "POST", header: nginxStyle("GET", "/public/x")}, wantStatus: 200, wantUser: "anonymous"},
		{name: "X-Original-Uri alone", call: fwdCall{header: fwdHeaders("X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.test", "X-Original-Uri", "/admin/x")}, wantStatus: 401},
		{name: "X-Original-Method alone", call: fwdCall{header: fwdHeaders("X-Original-Method", "DELETE", "X-Forwarded-Host", "api.test", "X-Original-Uri", "/public/x")}, wantStatus: 404},
		{name: "the same fact stated twice alike", call: fwdCall{header: nginxStyle("GET", "/public/x", "X-Original-Uri", "/public/x", "X-Original-Method", "GET",
			"X-Forwarded-Host", "api.test", "Forwarded", `for=192.0.2.1;host="API.test";proto=https`)}, wantStatus: 200, wantUser: "anonymous"},
		{name: "Forwarded: only the nearest proxy's element is compared", call: fwdCall{header: nginxStyle("GET", "/public/x",
			"Forwarded", "host=cdn.test;proto=http, for=192.0.2.1;host=api.test;proto=https")}, wantStatus: 200, wantUser: "anonymous"},
		{name: "a comma inside X-Forwarded-Uri is not a list", call: fwdCall{header: nginxStyle("GET", "/public/a,b?q=1,2")}, wantStatus: 200, wantUser: "anonymous"},
		{name: "X-Forwarded-Proto https reaches an https-only rule", call: fwdCall{header: nginxStyle("GET", "/tls/x")}, wantStatus: 200},
		{name: "X-Forwarded-Proto wss is https", call: fwdCall{header: fwdHeaders("X-Forwarded-Proto", "wss", "X-Forwarded-Host", "api.test", "X-Forwarded-Uri", "/tls/x")}, wantStatus: 200},
		{name: "without X-Forwarded-Proto the call's scheme", call: fwdCall{header: fwdHeaders("X-Forwarded-Host", "api.test", "X-Forwarded-Uri", "/tls/x")}, wantStatus: 404},
		{name: "Envoy path_prefix mode: the call itself", call: fwdCall{target: "/decisions/public/x?q=1", host: "api.test", header: fwdHeaders("X-Forwarded-Proto", "https")},
			wantStatus: 200, wantUser: "anonymous"},
		{name: "Envoy path_prefix mode with an agreeing X-Forwarded-Uri", call: fwdCall{target: "/decisions/public/x?q=1", host: "api.test",
			header: fwdHeaders("X-Forwarded-Uri", "/public/x?q=1")}, wantStatus: 200, wantUser: "anonymous"},
		// The path is passed on as received: the front doors' shared
		// path policy refuses what an upstream could read another way.
		{name: "a fragment in X-Forwarded-Uri is not cut off", call: fwdCall{header: nginxStyle("GET", "/public/x#/../../admin/x")}, wantStatus: 400},
		{name: "an encoded slash in the path after /decisions", call: fwdCall{target: "/decisions/public/..%2Fadmin", host: "api.test"}, wantStatus: 400},
	})
}

// Two forwarded statements of one fact that differ are a 400, never a
// choice between them. Before, the first one found was used.
func TestDecisionsForwardedConflicts(t *testing.T) {
	s := newFwdServer(t, "127.0.0.1", nil)
	runFwdCases(t, s, []fwdCase{
		{name: "X-Forwarded-Uri against X-Original-Uri", call: fwdCall{header: nginxStyle("GET", "/admin/x", "X-Original-Uri", "/public/x")},
			wantStatus: 400, wantErr: "X-Forwarded-Uri and X-Original-Uri disagree"},
		{name: "X-Original-Uri against X-Forwarded-Uri", call: fwdCall{header: nginxStyle("GET", "/public/x", "X-Original-Uri", "/admin/x")},
			wantStatus: 400, wantErr: "disagree"},
		{name: "X-Forwarded-Uri against the path after /decisions", call: fwdCall{target: "/decisions/admin/x", host: "api.test",
			header: fwdHeaders("X-Forwarded-Proto", "https", "X-Forwarded-Uri", "/public/x")}, wantStatus: 400, wantErr: "path after /decisions"},
		{name: "X-Forwarded-Uri against the query after /decisions", call: fwdCall{target: "/decisions/public/x?user=alice", host: "api.test",
			header: fwdHeaders("X-Forwarded-Uri", "/public/x?user=bob")}, wantStatus: 400, wantErr: "different request targets"},
		{name: "X-Forwarded-Method against X-Original-Method", call: fwdCall{header: nginxStyle("DELETE", "/public/x", "X-Original-Method", "GET")},
			wantStatus: 400, wantErr: "X-Forwarded-Method and X-Original-Method disagree"},
		{name: "X-Forwarded-Host repeated with different values", call: fwdCall{header: nginxStyle("GET", "/admin/x", "X-Forwarded-Host", "internal.test")},
			wantStatus: 400, wantErr: "X-Forwarded-Host is repeated with different values"},
		{name: "X-Forwarded-Host as a list", call: fwdCall{header: fwdHeaders("X-Forwarded-Host", "internal.test, api.test", "X-Forwarded-Uri", "/admin/x")},
			wantStatus: 400, wantErr: "X-Forwarded-Host is a list"},
		{name: "X-Forwarded-Uri repeated with different values", call: fwdCall{header: nginxStyle("GET", "/admin/x", "X-Forwarded-Uri", "/public/x")},
			wantStatus: 400, wantErr: "X-Forwarded-Uri is repeated"},
		{name: "X-Forwarded-Method repeated with different values", call: fwdCall{header: nginxStyle("DELETE", "/public/x", "X-Forwarded-Method", "GET")},
			wantStatus: 400, wantErr: "X-Forwarded-Method is repeated"},
		{name: "X-Forwarded-Proto as a list", call: fwdCall{header: fwdHeaders("X-Forwarded-Proto", "https,http", "X-Forwarded-Host", "api.test", "X-Forwarded-Uri", "/tls/x")},
			wantStatus: 400, wantErr: "X-Forwarded-Proto is a list"},
		{name: "X-Forwarded-Proto of another protocol", call: fwdCall{header: fwdHeaders("X-Forwarded-Proto", "ftp", "X-Forwarded-Host", "api.test", "X-Forwarded-Uri", "/public/x")},
			wantStatus: 400, wantErr: `X-Forwarded-Proto "ftp" is not http`},
		{name: "X-Forwarded-Method that is not a token", call: fwdCall{header: nginxStyle("GE(T", "/public/x")},
			wantStatus: 400, wantErr: "is not an HTTP method"},
		{name: "Forwarded host against X-Forwarded-Host", call: fwdCall{header: nginxStyle("GET", "/public/x", "Forwarded", "host=internal.test;proto=https")},
			wantStatus: 400, wantErr: `Forwarded host="internal.test" disagrees with X-Forwarded-Host "api.test"`},
		{name: "Forwarded proto against X-Forwarded-Proto", call: fwdCall{header: nginxStyle("GET", "/public/x", "Forwarded", "proto=http")},
			wantStatus: 400, wantErr: `Forwarded proto="http" disagrees with X-Forwarded-Proto`},
		{name: "Forwarded host against Host", call: fwdCall{target: "/decisions/public/x", host: "api.test", header: fwdHeaders("Forwarded", "host=internal.test")},
			wantStatus: 400, wantErr: `disagrees with Host "api.test"`},
		{name: "Forwarded proto against the call's scheme", call: fwdCall{target: "/decisions/tls/x", host: "api.test", header: fwdHeaders("Forwarded", `proto="https"`)},
			wantStatus: 400, wantErr: "disagrees with the call's scheme"},
		{name: "Forwarded repeated: the last element counts", call: fwdCall{header: append(nginxStyle("GET", "/public/x", "Forwarded", "host=api.test"), fwdHeaders("Forwarded", "host=internal.test")...)},
			wantStatus: 400, wantErr: "Forwarded host="},
		{name: "Forwarded malformed", call: fwdCall{header: nginxStyle("GET", "/public/x", "Forwarded", "host")},
			wantStatus: 400, wantErr: "Forwarded: malformed parameter"},
		{name: "Forwarded parameter repeated in one element", call: fwdCall{header: nginxStyle("GET", "/public/x", "Forwarded", "host=api.test;host=internal.test")},
			wantStatus: 400, wantErr: "host repeated in one element"},
		{name: "Forwarded unterminated quoted string", call: fwdCall{header: nginxStyle("GET", "/public/x", "Forwarded", `host="api.test`)},
			wantStatus: 400, wantErr: "unterminated quoted string"},
		{name: "a target that only decodes to /decisions", call: fwdCall{target: "/decision%73/public/x", host: "api.test", header: fwdHeaders("X-Forwarded-Proto", "https")},
			wantStatus: 400, wantErr: "request target is not /decisions or below it"},
	})
}

// The IPv6 loopback is trusted by default, and only when configured.
func TestDecisionsIPv6Loopback(t *testing.T) {
	trusted := newFwdServer(t, "::1", nil)
	runFwdCases(t, trusted, []fwdCase{
		{name: "default trust: ::1 is a trusted proxy", call: fwdCall{from: "::1", header: nginxStyle("GET", "/public/x")}, wantStatus: 200, wantUser: "anonymous"},
	})
	v4only := newFwdServer(t, "::1", fwdTrust(t, []string{"127.0.0.0/8"}, authz.DefaultForwardedHeaders()))
	runFwdCases(t, v4only, []fwdCase{
		{name: "IPv4 loopback only: ::1 is not", call: fwdCall{from: "::1", header: nginxStyle("GET", "/public/x")},
			wantStatus: 400, wantErr: "sent by [::1]:"},
		{name: "IPv4 loopback only: the call itself from ::1", call: fwdCall{from: "::1", target: "/decisions/public/x", host: "api.test"},
			wantStatus: 200, wantUser: "anonymous"},
	})
}

// trusted_proxies takes CIDRs and single addresses; a peer is trusted by
// its connection's address, nothing it sends.
func TestDecisionsTrustedProxiesCIDR(t *testing.T) {
	for _, tt := range []struct {
		proxies        []string
		trusted, other string
	}{
		{proxies: []string{"127.0.0.2/32"}, trusted: "127.0.0.2", other: "127.0.0.1"},
		{proxies: []string{"127.0.0.2"}, trusted: "127.0.0.2", other: "127.0.0.3"},
		{proxies: []string{"10.0.0.0/8", "127.0.0.4/30"}, trusted: "127.0.0.7", other: "127.0.0.8"},
		{proxies: []string{"::1/128", "127.0.0.3/32"}, trusted: "127.0.0.3", other: "127.0.0.1"},
		{proxies: []string{"::ffff:127.0.0.4/127"}, trusted: "127.0.0.5", other: "127.0.0.6"},
		{proxies: []string{"::ffff:127.0.0.9"}, trusted: "127.0.0.9", other: "127.0.0.1"},
	} {
		t.Run(strings.Join(tt.proxies, ","), func(t *testing.T) {
			s := newFwdServer(t, "127.0.0.1", fwdTrust(t, tt.proxies, authz.DefaultForwardedHeaders()))
			runFwdCases(t, s, []fwdCase{
				{name: "trusted " + tt.trusted, call: fwdCall{from: tt.trusted, header: nginxStyle("GET", "/public/x")}, wantStatus: 200, wantUser: "anonymous"},
				{name: "untrusted " + tt.other, call: fwdCall{from: tt.other, header: nginxStyle("GET", "/public/x", "X-Forwarded-For", tt.trusted)},
					wantStatus: 400, wantErr: "sent by " + tt.other + ":"},
			})
		})
	}
	t.Run("empty list trusts nobody", func(t *testing.T) {
		s := newFwdServer(t, "127.0.0.1", fwdTrust(t, []string{}, authz.DefaultForwardedHeaders()))
		runFwdCases(t, s, []fwdCase{
			{name: "loopback", call: fwdCall{from: "127.0.0.1", header: nginxStyle("GET", "/public/x")}, wantStatus: 400, wantErr: "sent by 127.0.0.1:"},
		})
	})
}

func TestNewForwardedTrustRejectsBadConfig(t *testing.T) {
	for _, tt := range []struct {
		name             string
		proxies, headers []string
		wantErr          string
	}{
		{name: "not a CIDR", proxies: []string{"10.0.0.0/33"}, wantErr: `trusted_proxies: "10.0.0.0/33" is not a CIDR or an IP address`},
		{name: "a host name", proxies: []string{"proxy.internal"}, wantErr: `"proxy.internal" is not a CIDR`},
		{name: "a zone", proxies: []string{"fe80::1%eth0"}, wantErr: `"fe80::1%eth0" is not a CIDR`},
		{name: "a header it does not read", headers: []string{"X-Forwarded-For"}, wantErr: `headers: "X-Forwarded-For" is not a forwarded header the decision API reads`},
		{name: "both", proxies: []string{"x"}, headers: []string{"X-Original-URL"}, wantErr: `"X-Original-URL"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authz.NewForwardedTrust(tt.proxies, tt.headers)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := authz.NewForwardedTrust([]string{"127.0.0.1", "10.1.2.3/8", "::ffff:127.0.0.1", "2001:db8::/32"},
		[]string{"x-original-uri", "FORWARDED", " X-Forwarded-Host "}); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}
