package authz_test

// Shared fixtures of the end-to-end security suite (security_*_test.go),
// which automates the public cases of shared/SECURITY_CASES.md at the gRPC
// front door: hand-built CheckRequests, as Envoy sends them, go to a real
// authz gRPC server on 127.0.0.1 whose snapshot is compiled from
// Oathkeeper-format rules with every shipped handler. Loopback test servers
// stand in for the IdP's JWKS, attacker.test and the remote services.
//
// Names start with "sec" so they never collide with authz_test.go.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portcullis-authz/portcullis/authz"
	svcconfig "github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// Fixture keys of SECURITY_CASES.md, generated once per run: K1 (RSA-2048,
// kid k1) and E1 (P-256, kid e1) are published by https://idp.test, K2 is
// the key of a second issuer, KA the attacker's (in no JWKS).
var (
	secKeysOnce                  sync.Once
	secKeyK1, secKeyK2, secKeyKA *rsa.PrivateKey
	secKeyE1                     *ecdsa.PrivateKey
)

func secKeys(tb testing.TB) {
	tb.Helper()
	secKeysOnce.Do(func() {
		gen := func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return k
		}
		secKeyK1, secKeyK2, secKeyKA = gen(), gen(), gen()
		var err error
		if secKeyE1, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// The issuer, audience and hosts of the document.
const (
	secIssuer   = "https://idp.test"
	secAudience = "api://gw"
	secHost     = "api.test"
)

func secB64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// secJSON marshals v; a json.RawMessage or []byte is used as is.
func secJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	switch x := v.(type) {
	case json.RawMessage:
		return x
	case []byte:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// secSign signs input with alg (RS256, PS256, ES256 or HS256).
func secSign(tb testing.TB, alg string, key any, input string) []byte {
	tb.Helper()
	h := sha256.Sum256([]byte(input))
	switch alg {
	case "RS256":
		sig, err := rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), crypto.SHA256, h[:])
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	case "PS256":
		sig, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			tb.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig
	case "HS256":
		m := hmac.New(sha256.New, key.([]byte))
		m.Write([]byte(input))
		return m.Sum(nil)
	}
	tb.Fatalf("unsupported alg %q", alg)
	return nil
}

// secJWT is TOK(H, C): a compact JWS of hdr and claims signed with alg.
func secJWT(tb testing.TB, alg string, key any, hdr, claims any) string {
	tb.Helper()
	in := secB64(secJSON(tb, hdr)) + "." + secB64(secJSON(tb, claims))
	return in + "." + secB64(secSign(tb, alg, key, in))
}

// secH0 is the valid header H0.
func secH0() map[string]any { return map[string]any{"alg": "RS256", "typ": "JWT", "kid": "k1"} }

// secC0 is the valid claims C0 at NOW (a fresh jti, so the verified-token
// cache never answers for a token built by another case).
func secC0() map[string]any {
	now := time.Now().Unix()
	return map[string]any{"iss": secIssuer, "sub": "alice", "aud": secAudience,
		"iat": now, "nbf": now, "exp": now + 300, "jti": "t-" + secNonce()}
}

var secNonceN atomic.Int64

func secNonce() string { return fmt.Sprint(secNonceN.Add(1)) }

// secWith returns m with changes applied (a nil value deletes the key).
func secWith(m, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// secToken is TOK(H0 with hdr, C0 with claims) signed RS256 by K1.
func secToken(tb testing.TB, hdr, claims map[string]any) string {
	tb.Helper()
	secKeys(tb)
	return secJWT(tb, "RS256", secKeyK1, secWith(secH0(), hdr), secWith(secC0(), claims))
}

// secJWK renders a raw key as a JWK object with extra members.
func secJWK(tb testing.TB, raw any, members map[string]any) map[string]any {
	tb.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(secJSON(tb, k), &m); err != nil {
		tb.Fatal(err)
	}
	return secWith(m, members)
}

func secJWKS(tb testing.TB, keys ...map[string]any) []byte {
	tb.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	return secJSON(tb, map[string]any{"keys": keys})
}

// secIdPKeys is the JWKS of https://idp.test: K1 and E1.
func secIdPKeys(tb testing.TB) []byte {
	tb.Helper()
	secKeys(tb)
	return secJWKS(tb,
		secJWK(tb, &secKeyK1.PublicKey, map[string]any{"kid": "k1", "alg": "RS256", "use": "sig"}),
		secJWK(tb, &secKeyE1.PublicKey, map[string]any{"kid": "e1", "alg": "ES256", "use": "sig"}))
}

// secJWKSServer serves a JWKS document and counts fetches; status and body
// can be changed while it runs (E-06).
type secJWKSServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	status int
	body   []byte
}

func newSecJWKSServer(tb testing.TB, body []byte) *secJWKSServer {
	tb.Helper()
	s := &secJWKSServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *secJWKSServer) set(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
	if body != nil {
		s.body = body
	}
}

// secListener is a loopback HTTP listener that records every connection
// it accepts (attacker.test, or a stand-in for a cloud metadata address).
// It answers like an attacker would: with a JWKS holding KA as "k1".
type secListener struct {
	*httptest.Server
	conns atomic.Int64
}

func newSecListener(tb testing.TB, ip string) *secListener {
	tb.Helper()
	secKeys(tb)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	body := secJWKS(tb, secJWK(tb, &secKeyKA.PublicKey, map[string]any{"kid": "k1", "alg": "RS256", "use": "sig"}))
	l := &secListener{}
	l.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	_ = l.Listener.Close()
	l.Listener = ln
	l.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			l.conns.Add(1)
		}
	}
	l.Start()
	tb.Cleanup(l.Close)
	return l
}

// secEnv is one test's outside world: the idp.test JWKS endpoint and the
// attacker.test listener.
type secEnv struct {
	idp      *secJWKSServer
	attacker *secListener
}

// jwksURL is https://idp.test/.well-known/jwks.json on loopback.
func (e *secEnv) jwksURL() string { return e.idp.URL + "/.well-known/jwks.json" }

func newSecEnv(tb testing.TB) *secEnv {
	tb.Helper()
	secKeys(tb)
	return &secEnv{idp: newSecJWKSServer(tb, secIdPKeys(tb)), attacker: newSecListener(tb, "127.0.0.1")}
}

// secConfig is the service config: every handler the suite uses enabled,
// with J0 as the jwt authenticator's default config.
func (e *secEnv) secConfig() map[string]any {
	on := func() map[string]any { return map[string]any{"enabled": true} }
	return map[string]any{
		"authenticators": map[string]any{
			"anonymous": on(), "noop": on(), "oauth2_introspection": on(), "cookie_session": on(), "api_key": on(),
			"jwt": map[string]any{"enabled": true, "config": map[string]any{
				"jwks_urls":          []string{e.jwksURL()},
				"trusted_issuers":    []string{secIssuer},
				"target_audience":    []string{secAudience},
				"allowed_algorithms": []string{"RS256", "ES256"},
				"allowed_clock_skew": "30s",
				"required_claims":    []string{"exp"},
			}},
		},
		"authorizers": map[string]any{"allow": on(), "deny": on(), "remote_json": on()},
		"mutators":    map[string]any{"noop": on(), "header": on(), "cookie": on(), "id_token": on(), "envoy": on()},
		"errors": map[string]any{
			"fallback": []string{"json"},
			"handlers": map[string]any{"json": on(), "redirect": on(), "www_authenticate": on()},
		},
	}
}

// The rules of SECURITY_CASES.md in regexp form.
const (
	secRulePub = `
- id: R-pub
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`
	secRuleAdm = `
- id: R-adm
  match: {url: "https://api.test/admin/<.*>", methods: [GET, POST, DELETE]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User-ID: "{{ .Subject }}"}}}]
`
	secRuleUsr = `
- id: R-usr
  match: {url: "https://api.test/users/<[0-9]+>", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`
	secRuleAny = `
- id: R-any
  match: {url: "https://api.test/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`
	secRulesBase = secRulePub + secRuleAdm + secRuleUsr
)

// secWorldOpts shape one world.
type secWorldOpts struct {
	// rules is the YAML rule list.
	rules string
	// log receives the server's and the handlers' logs (default: none).
	log *zap.Logger
	// grpc configures the server.
	grpc authz.GRPCOptions
	// register adds test-only handlers (E-03's panic).
	register func(*pipeline.Registry)
	// config edits the service config before it loads.
	config func(map[string]any)
}

// secWorld is a compiled snapshot served by a real gRPC server.
type secWorld struct {
	env    *secEnv
	deps   *builtin.Deps
	snap   *pipeline.Snapshot
	client authv3.AuthorizationClient
}

// secBuild returns the registry (builtin handlers plus o.register) and
// the pipeline config of a world; deps are closed when the test ends.
func (e *secEnv) secBuild(tb testing.TB, o secWorldOpts) (*builtin.Deps, *pipeline.Registry, pipeline.Config) {
	tb.Helper()
	log := o.log
	if log == nil {
		log = zap.NewNop()
	}
	deps := builtin.NewDeps(log)
	tb.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	if o.register != nil {
		o.register(reg)
	}
	c := e.secConfig()
	if o.config != nil {
		o.config(c)
	}
	cfg, _, err := svcconfig.Load("security.json", secJSON(tb, c), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return deps, reg, cfg.Pipeline()
}

// world compiles o.rules and serves them.
func (e *secEnv) world(tb testing.TB, o secWorldOpts) *secWorld {
	tb.Helper()
	deps, reg, cfg := e.secBuild(tb, o)
	specs, err := rulestore.DecodeRules("security-rules.yaml", []byte(o.rules))
	if err != nil {
		tb.Fatal(err)
	}
	snap, err := pipeline.Compile(specs, cfg, reg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(snap.Close)
	secAwaitKeys(tb, deps, e.jwksURL())
	st := &secStore{}
	st.p.Store(snap)
	return &secWorld{env: e, deps: deps, snap: snap, client: secServe(tb, st, o.log, o.grpc)}
}

// secAwaitKeys waits until the first fetch of the key set at url is done,
// loaded or failed, when a rule in force uses it. The fetch starts when
// the rules compile, and a check that finds no keys waits for it only
// jwks_max_wait (150ms): on a busy machine the first check of a world
// would race that wait.
func secAwaitKeys(tb testing.TB, deps *builtin.Deps, url string) {
	tb.Helper()
	secEventually(tb, "the first fetch of "+url, func() bool {
		for _, ks := range deps.KeySets() {
			if ks.URL == url && ks.LastSuccess == nil && ks.Error == "not fetched yet" {
				return false
			}
		}
		return true
	})
}

// secEventually polls cond until it holds. It stands in for an event a
// test cannot wait on directly (a background fetch done, a reload
// applied), so it has no time limit of its own: it gives up only shortly
// before the test binary's -timeout would, to say what it waited for.
func secEventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	giveUp := time.Now().Add(time.Minute)
	if t, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := t.Deadline(); ok {
			giveUp = d.Add(-10 * time.Second)
		}
	}
	for !cond() {
		if time.Now().After(giveUp) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// secStore publishes one snapshot.
type secStore struct {
	p atomic.Pointer[pipeline.Snapshot]
}

func (s *secStore) Current() *pipeline.Snapshot { return s.p.Load() }

// secServe runs a real gRPC server on 127.0.0.1:0 until the test ends.
// Its checks run under testBudget: they end only at the client's own
// deadline (less the production margin), never at check_timeout.
func secServe(tb testing.TB, snaps authz.Snapshots, log *zap.Logger, o authz.GRPCOptions) authv3.AuthorizationClient {
	tb.Helper()
	if log == nil {
		log = zap.NewNop()
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = time.Second
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := authz.NewGRPCServer(authz.NewChecker(snaps, log, nil, testBudget), log, o)
	srv.SetServing(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return authv3.NewAuthorizationClient(conn)
}

// secCheck is Check(M, host, path) of the Notation section: scheme https,
// HTTP/1.1, source 203.0.113.7, the raw path with its query, and the
// listed headers with lower-cased keys.
func secCheck(method, host, path string, headers map[string]string) *authv3.CheckRequest {
	h := make(map[string]string, len(headers))
	for k, v := range headers {
		h[strings.ToLower(k)] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "203.0.113.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: method, Host: host, Path: path, Scheme: "https", Protocol: "HTTP/1.1", Headers: h,
		}},
	}}
}

// secBearer is the headers of a request carrying tok as a Bearer token.
func secBearer(tok string) map[string]string {
	return map[string]string{"authorization": "Bearer " + tok}
}

// secResult is one answer.
type secResult struct {
	resp *authv3.CheckResponse
}

func (r secResult) allowed() bool { return r.resp.GetStatus().GetCode() == int32(code.Code_OK) }

// status is the HTTP status of a denial, 200 for an allow.
func (r secResult) status() int {
	if r.allowed() {
		return 200
	}
	return int(r.resp.GetDeniedResponse().GetStatus().GetCode())
}

func (r secResult) ruleID() string {
	return r.resp.GetDynamicMetadata().GetFields()["rule_id"].GetStringValue()
}

func (r secResult) reason() string {
	return r.resp.GetDynamicMetadata().GetFields()["reason"].GetStringValue()
}

func (r secResult) String() string {
	if r.allowed() {
		return fmt.Sprintf("ALLOW rule=%q headers=%v remove=%v", r.ruleID(), r.resp.GetOkResponse().GetHeaders(), r.resp.GetOkResponse().GetHeadersToRemove())
	}
	return fmt.Sprintf("DENY-%d rule=%q reason=%q grpc=%d", r.status(), r.ruleID(), r.reason(), r.resp.GetStatus().GetCode())
}

// check sends req and fails the test on a gRPC error: every decision,
// deny included, must be an in-band CheckResponse.
func (w *secWorld) check(tb testing.TB, req *authv3.CheckRequest) secResult {
	tb.Helper()
	return secDo(tb, w.client, req)
}

func secDo(tb testing.TB, c authv3.AuthorizationClient, req *authv3.CheckRequest) secResult {
	tb.Helper()
	r, err := secTry(c, req)
	if err != nil {
		tb.Fatalf("Check: gRPC error %v (want an in-band CheckResponse)", err)
	}
	secWellFormed(tb, r)
	return r
}

// secTry sends req without failing the test (for goroutines and for cases
// that expect a gRPC error).
func secTry(c authv3.AuthorizationClient, req *authv3.CheckRequest) (secResult, error) {
	// Only a guard against a hung server, never a test of speed: under
	// -race on a busy machine an 8 MiB request took 17 s to go through,
	// so the guard sits far above that and below go test's own timeout.
	// The server budgets each check itself, whatever the caller allows.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := c.Check(ctx, req)
	return secResult{resp: resp}, err
}

// secWellFormed checks the invariants of every answer: an OK status has an
// ok_response, any other has a denied_response with a final HTTP status,
// and no header Portcullis emits can split a header line.
func secWellFormed(tb testing.TB, r secResult) {
	tb.Helper()
	if r.allowed() {
		if r.resp.GetOkResponse() == nil {
			tb.Fatalf("OK without ok_response: %v", r.resp)
		}
		for _, h := range r.resp.GetOkResponse().GetHeaders() {
			secHeaderOK(tb, "ok_response.headers", h.GetHeader())
		}
		for _, h := range r.resp.GetOkResponse().GetResponseHeadersToAdd() {
			secHeaderOK(tb, "ok_response.response_headers_to_add", h.GetHeader())
		}
		return
	}
	if r.resp.GetDeniedResponse() == nil {
		tb.Fatalf("status %d without denied_response: %v", r.resp.GetStatus().GetCode(), r.resp)
	}
	if s := r.status(); s < 200 || s > 599 {
		tb.Fatalf("denied with HTTP status %d", s)
	}
	for _, h := range r.resp.GetDeniedResponse().GetHeaders() {
		secHeaderOK(tb, "denied_response.headers", h.GetHeader())
	}
}

// secHeaderOK fails on a header Envoy would have to refuse: an invalid
// name, or a value with CR, LF or NUL.
func secHeaderOK(tb testing.TB, where string, h *corev3.HeaderValue) {
	tb.Helper()
	if !httpguts.ValidHeaderFieldName(h.GetKey()) {
		tb.Errorf("%s: invalid header name %q", where, h.GetKey())
	}
	if strings.ContainsAny(h.GetValue(), "\r\n\x00") {
		tb.Errorf("%s: header %q has a value with CR, LF or NUL: %q", where, h.GetKey(), h.GetValue())
	}
}

// secDeny asserts a denial with one of the given HTTP statuses (any
// status when none is given).
func secDeny(tb testing.TB, r secResult, statuses ...int) {
	tb.Helper()
	if r.allowed() {
		tb.Fatalf("got %v, want DENY %v", r, statuses)
	}
	if len(statuses) == 0 {
		return
	}
	for _, s := range statuses {
		if r.status() == s {
			return
		}
	}
	tb.Fatalf("got %v, want DENY with status in %v", r, statuses)
}

// secAllow asserts an allow by rule.
func secAllow(tb testing.TB, r secResult, rule string) {
	tb.Helper()
	if !r.allowed() {
		tb.Fatalf("got %v, want ALLOW by %s", r, rule)
	}
	if r.ruleID() != rule {
		tb.Fatalf("allowed by rule %q, want %q", r.ruleID(), rule)
	}
}

// secUpstream returns the ok_response header options by lower-cased name.
func secUpstream(r secResult) map[string][]*corev3.HeaderValueOption {
	out := map[string][]*corev3.HeaderValueOption{}
	for _, h := range r.resp.GetOkResponse().GetHeaders() {
		k := strings.ToLower(h.GetHeader().GetKey())
		out[k] = append(out[k], h)
	}
	return out
}

// secOverwrites asserts that the upstream gets exactly one name: value,
// set with append=false (so a client copy is replaced), and that name is
// not also removed (Envoy <= 1.37 removes after setting).
func secOverwrites(tb testing.TB, r secResult, name, value string) {
	tb.Helper()
	hs := secUpstream(r)[name]
	if len(hs) != 1 {
		tb.Fatalf("upstream %s: %d header options, want exactly 1 (%v)", name, len(hs), r)
	}
	if got := hs[0].GetHeader().GetValue(); got != value {
		tb.Fatalf("upstream %s = %q, want %q", name, got, value)
	}
	if hs[0].GetAppend() == nil || hs[0].GetAppend().GetValue() {
		tb.Fatalf("upstream %s: append = %v, want an explicit false", name, hs[0].GetAppend())
	}
	for _, n := range r.resp.GetOkResponse().GetHeadersToRemove() {
		if strings.EqualFold(n, name) {
			tb.Fatalf("upstream %s is both set and in headers_to_remove", name)
		}
	}
}

// secWriteFile writes data to name in dir and returns its file:// URL.
func secWriteFile(tb testing.TB, dir, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return "file://" + p
}

// secPrivateJWKS writes a JWKS with one private signing key for the
// id_token mutator and returns its file:// URL.
func secPrivateJWKS(tb testing.TB, dir, name string, priv any, members map[string]any) string {
	tb.Helper()
	return secWriteFile(tb, dir, name, secJWKS(tb, secJWK(tb, priv, members)))
}

// secClaimsOf decodes the payload of a compact JWS (no verification).
func secClaimsOf(tb testing.TB, tok string) (hdr, claims map[string]any) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("not a compact JWS: %q", tok)
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			tb.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			tb.Fatal(err)
		}
	}
	return hdr, claims
}
