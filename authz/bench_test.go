package authz_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/authn/jwt"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/handlers/mutate/idtoken"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// The benchmarks in this file run the whole in-process Checker.Check:
// CheckRequest translation, matching, the rule's handlers, the decision
// log call (to zap.NewNop, as BenchmarkCheck) and building the
// CheckResponse. The BenchmarkCheckWire ones also include the codec, from
// request bytes to response bytes; gRPC framing is not included:
// cmd/portcullis-load measures it over a real socket.

// benchPoolSize is how many distinct tokens (distinct subjects) the miss
// benchmarks cycle through.
const benchPoolSize = 5000

// BenchmarkCheckJWTCelHeaderIDToken measures a rule with a jwt
// authenticator (RS256, JWKS served by httptest on 127.0.0.1), a cel
// authorizer, a header mutator and an id_token mutator, for each id_token
// signing algorithm:
//   - hit: the same token on every iteration, so the verified-token cache
//     and the minted id_token cache both hit;
//   - miss: benchPoolSize distinct tokens in turn, with both caches shrunk
//     to a few entries, so every iteration verifies an RS256 signature,
//     mints and signs an id_token, and evicts from both caches.
func BenchmarkCheckJWTCelHeaderIDToken(b *testing.B) {
	keys := benchKeySet(b)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(keys.idpJWKS)
	}))
	b.Cleanup(idp.Close)
	// Built before any sub-benchmark, so that all of them run with the
	// same live heap (a smaller heap means more GC cycles per op).
	pool := benchJWTPool(b, keys.idp)

	for _, alg := range []string{"ES256", "RS256"} {
		key, err := keys.signer(alg)
		if err != nil {
			b.Fatal(err)
		}
		signing := benchWriteJWKS(b, key)
		for _, mode := range []string{"hit", "miss"} {
			b.Run(alg+"/"+mode, func(b *testing.B) {
				deps := benchDeps(b)
				if mode == "miss" {
					// 32 verified tokens and ~2 KiB of minted tokens per
					// shard: cycling through benchPoolSize subjects, a
					// token is always evicted long before it comes back.
					deps.JWTTokens = jwt.NewTokenCache(jwt.TokenCacheOptions{MaxEntries: 32})
					deps.IDTokens = idtoken.NewSigners(idtoken.Options{Client: deps.HTTP, CacheMaxBytes: 32 << 10})
				}
				snap := benchCompile(b, deps, "jwt-cel-idtoken.yaml", map[string]string{
					"@JWKS_URL@":         idp.URL + "/.well-known/jwks.json",
					"@SIGNING_JWKS_URL@": signing,
				})
				c := benchChecker(snap)

				// The first check waits for the JWKS; it also proves the
				// rule allows and both mutators ran.
				warm := benchJWTRequest(benchToken(b, keys.idp, "alice", time.Now()))
				resp := benchWarm(b, c, warm, "orders", "alice")
				if v := benchHeader(resp, "authorization"); !strings.HasPrefix(v, "Bearer ey") {
					b.Fatalf("id_token header %q", v)
				}

				reqs := []*authv3.CheckRequest{warm}
				if mode == "miss" {
					reqs = pool
				}
				benchLoop(b, c, reqs)
				if mode == "miss" && deps.JWTTokens.Len() > 32 {
					b.Fatalf("verified-token cache holds %d entries, want at most 32", deps.JWTTokens.Len())
				}
			})
		}
	}
}

// BenchmarkCheckIntrospectionCacheHit measures an oauth2_introspection
// rule whose answer is cached: only the first check calls the endpoint.
func BenchmarkCheckIntrospectionCacheHit(b *testing.B) {
	var calls atomic.Int64
	answer := fmt.Sprintf(`{"active":true,"sub":"alice","client_id":"c1","scope":"reports:read reports:write",`+
		`"aud":["api"],"iss":"https://idp.test","exp":%d}`, time.Now().Add(time.Hour).Unix())
	ep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if err := r.ParseForm(); err != nil || r.PostForm.Get("token") != "opaque-token-1" {
			_, _ = io.WriteString(w, `{"active":false}`)
			return
		}
		_, _ = io.WriteString(w, answer)
	}))
	b.Cleanup(ep.Close)

	deps := benchDeps(b)
	snap := benchCompile(b, deps, "introspection.yaml", map[string]string{"@INTROSPECTION_URL@": ep.URL + "/oauth2/introspect"})
	c := benchChecker(snap)
	req := benchCheckReq("GET", "api.test", "/reports/2024/q3?format=csv", map[string]string{"authorization": "Bearer opaque-token-1"})
	benchWarm(b, c, req, "introspected", "alice")
	benchLoop(b, c, []*authv3.CheckRequest{req})
	if n := calls.Load(); n != 1 {
		b.Fatalf("introspection endpoint called %d times, want 1: the benchmark missed the cache", n)
	}
}

// BenchmarkCheckRules10k measures a check that hits one of 10,000 rules
// (anonymous → allow → header): 9,000 literal path prefixes on api.test
// and 10 on each of 100 other hosts.
func BenchmarkCheckRules10k(b *testing.B) {
	specs := benchRules10k()
	deps := benchDeps(b)
	start := time.Now()
	snap := benchCompileSpecs(b, deps, specs)
	b.Logf("compiled %d rules in %v", len(specs), time.Since(start).Round(time.Millisecond))
	c := benchChecker(snap)
	for _, bc := range []struct{ name, host, path, rule string }{
		{"api_host", "api.test", "/svc-07321/items/42", "api-07321"},
		{"other_host", "h042.test", "/svc-0007/items/42", "h042-0007"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := benchCheckReq("GET", bc.host, bc.path, nil)
			benchWarm(b, c, req, bc.rule, "anonymous")
			benchLoop(b, c, []*authv3.CheckRequest{req})
		})
	}
}

// benchRules10k returns the rules of BenchmarkCheckRules10k.
func benchRules10k() []pipeline.RuleSpec {
	rule := func(id, url string) pipeline.RuleSpec {
		return pipeline.RuleSpec{
			ID:             id,
			Match:          &pipeline.MatchSpec{URL: url, Methods: []string{"GET", "HEAD"}},
			Authenticators: []pipeline.HandlerSpec{{Handler: "anonymous"}},
			Authorizer:     &pipeline.HandlerSpec{Handler: "allow"},
			Mutators: []pipeline.HandlerSpec{{Handler: "header", Config: map[string]any{
				"headers": map[string]any{"X-User": "{{ print .Subject }}"},
			}}},
			Source: "bench-10k",
		}
	}
	specs := make([]pipeline.RuleSpec, 0, 10_000)
	for i := range 9000 {
		specs = append(specs, rule(fmt.Sprintf("api-%05d", i), fmt.Sprintf("https://api.test/svc-%05d/<.*>", i)))
	}
	for h := range 100 {
		for i := range 10 {
			specs = append(specs, rule(fmt.Sprintf("h%03d-%04d", h, i), fmt.Sprintf("https://h%03d.test/svc-%04d/<.*>", h, i)))
		}
	}
	for i := range specs {
		specs[i].Index = i
	}
	return specs
}

// benchLoop checks reqs in turn and fails on anything but an allow.
func benchLoop(b *testing.B, c *authz.Checker, reqs []*authv3.CheckRequest) {
	b.Helper()
	// Every gRPC request has a cancellable context.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Check(ctx, reqs[i%len(reqs)])
		if err != nil || resp.GetStatus().GetCode() != 0 {
			b.Fatalf("check %d: %v %v", i, resp, err)
		}
		i++
	}
}

// benchWarm runs one check outside the timer and fails unless rule allowed
// it and set X-User to user.
func benchWarm(tb testing.TB, c *authz.Checker, req *authv3.CheckRequest, rule, user string) *authv3.CheckResponse {
	tb.Helper()
	resp, err := c.Check(context.Background(), req)
	if err != nil || resp.GetStatus().GetCode() != 0 {
		tb.Fatalf("warm-up check: %v %v", resp, err)
	}
	if got := resp.GetDynamicMetadata().GetFields()["rule_id"].GetStringValue(); got != rule {
		tb.Fatalf("rule %q, want %q", got, rule)
	}
	if got := benchHeader(resp, "x-user"); got != user {
		tb.Fatalf("x-user %q, want %q", got, user)
	}
	return resp
}

// benchHeader returns the value of the upstream header key (lower case).
func benchHeader(resp *authv3.CheckResponse, key string) string {
	for _, h := range resp.GetOkResponse().GetHeaders() {
		if h.GetHeader().GetKey() == key {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

// benchCheckReq is a CheckRequest shaped like Envoy's default (headers
// map) form, with the headers a browser-ish client sends.
func benchCheckReq(method, host, path string, headers map[string]string) *authv3.CheckRequest {
	h := map[string]string{
		":method": method, ":path": path, ":authority": host, ":scheme": "https",
		"user-agent": "bench/1.0", "accept": "*/*", "x-forwarded-proto": "https",
		"x-request-id": "5f0e6c8a-1b2d-4e3f-9a8b-7c6d5e4f3a2b",
	}
	for k, v := range headers {
		h[k] = v
	}
	req := checkReq(method, path, h)
	req.Attributes.Request.Http.Host = host
	return req
}

// benchDeps returns the builtin dependencies, closed when tb ends.
func benchDeps(tb testing.TB) *builtin.Deps {
	tb.Helper()
	d := builtin.NewDeps(nil)
	tb.Cleanup(d.Close)
	return d
}

// benchCompile decodes testdata/bench/<file>, after replacing each key of
// vars with its value, and compiles it as benchCompileSpecs does.
func benchCompile(tb testing.TB, deps *builtin.Deps, file string, vars map[string]string) *pipeline.Snapshot {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "bench", file))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range vars {
		data = bytes.ReplaceAll(data, []byte(k), []byte(v))
	}
	specs, err := rulestore.DecodeRules(file, data)
	if err != nil {
		tb.Fatal(err)
	}
	return benchCompileSpecs(tb, deps, specs)
}

// benchCompileSpecs compiles specs under testdata/bench/config.yaml with
// the builtin handlers over deps. The snapshot is closed when tb ends,
// before deps is.
func benchCompileSpecs(tb testing.TB, deps *builtin.Deps, specs []pipeline.RuleSpec) *pipeline.Snapshot {
	tb.Helper()
	cfg, _, err := config.Load(filepath.Join("testdata", "bench", "config.yaml"), nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	s, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// benchChecker serves s through a Checker that logs nowhere. Its check
// budget costs what the default one does, but is long enough that a
// machine busy with other work cannot turn an iteration into a deadline
// denial.
func benchChecker(s *pipeline.Snapshot) *authz.Checker {
	st := &store{}
	st.s.Store(s)
	return authz.NewChecker(st, zap.NewNop(), nil, authz.WithBudget(time.Minute, authz.DefaultDeadlineMargin))
}

// benchKeys are the keys of the JWT benchmark, generated once per test
// binary: idp signs the incoming tokens (kid "idp-1", in idpJWKS); es and
// rs sign the minted id_tokens.
type benchKeys struct {
	idp     *rsa.PrivateKey
	idpJWKS []byte
	es      *ecdsa.PrivateKey
	rs      *rsa.PrivateKey
}

var benchKeysOnce = sync.OnceValues(func() (*benchKeys, error) {
	k := &benchKeys{}
	var err error
	if k.idp, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.rs, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	if k.es, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	pub, err := benchJWK(&k.idp.PublicKey, "idp-1", "RS256")
	if err != nil {
		return nil, err
	}
	k.idpJWKS, err = json.Marshal(map[string]any{"keys": []jwk.Key{pub}})
	return k, err
})

func benchKeySet(tb testing.TB) *benchKeys {
	tb.Helper()
	k, err := benchKeysOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// signer returns the id_token signing key for alg as a private JWK.
func (k *benchKeys) signer(alg string) (jwk.Key, error) {
	if alg == "RS256" {
		return benchJWK(k.rs, "sig-rs256", "RS256")
	}
	return benchJWK(k.es, "sig-es256", "ES256")
}

func benchJWK(raw any, kid, alg string) (jwk.Key, error) {
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]string{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// benchWriteJWKS writes the private key k as a JWKS into a temporary
// directory and returns its file:// URL.
func benchWriteJWKS(tb testing.TB, k jwk.Key) string {
	tb.Helper()
	data, err := json.Marshal(map[string]any{"keys": []jwk.Key{k}})
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "signing-jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return "file://" + p
}

// benchToken returns an RS256 JWT for sub, valid for an hour from now,
// that the orders rule accepts.
func benchToken(tb testing.TB, key *rsa.PrivateKey, sub string, now time.Time) string {
	tb.Helper()
	t, err := benchSign(key, sub, now)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func benchSign(key *rsa.PrivateKey, sub string, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	claims, err := json.Marshal(map[string]any{
		"iss": "https://idp.test", "aud": "api://gw", "sub": sub, "email": sub + "@example.com",
		"roles": []string{"reader", "admin"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		return "", err
	}
	signed := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"idp-1"}`)) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

func benchJWTRequest(token string) *authv3.CheckRequest {
	return benchCheckReq("GET", "api.test", "/orders/42", map[string]string{"authorization": "Bearer " + token})
}

var benchPool struct {
	once sync.Once
	reqs []*authv3.CheckRequest
	err  error
}

// benchJWTPool returns benchPoolSize requests, each with its own token and
// subject. They are signed once per test binary, on every CPU, as RSA
// signing takes about a millisecond.
func benchJWTPool(tb testing.TB, key *rsa.PrivateKey) []*authv3.CheckRequest {
	tb.Helper()
	benchPool.once.Do(func() {
		now := time.Now()
		reqs := make([]*authv3.CheckRequest, benchPoolSize)
		workers := runtime.GOMAXPROCS(0)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; i < len(reqs) && errs[w] == nil; i += workers {
					var t string
					t, errs[w] = benchSign(key, fmt.Sprintf("user-%05d", i), now)
					reqs[i] = benchJWTRequest(t)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				benchPool.err = err
			}
		}
		benchPool.reqs = reqs
	})
	if benchPool.err != nil {
		tb.Fatal(benchPool.err)
	}
	return benchPool.reqs
}

// BenchmarkCheckJWTHeaderExtra measures the common production rule: a jwt
// authenticator (RS256, key set from a local JWKS file, token cached), the
// allow authorizer and a header mutator rendering a claim with
// {{ print .Extra.x }}.
func BenchmarkCheckJWTHeaderExtra(b *testing.B) {
	c, req := benchJWTHeaderChecker(b)
	benchLoop(b, c, []*authv3.CheckRequest{req})
}

// benchJWTHeaderChecker returns the Checker and the request of
// BenchmarkCheckJWTHeaderExtra, after a warm-up check that proves the
// rule allows and renders both headers.
func benchJWTHeaderChecker(b *testing.B) (*authz.Checker, *authv3.CheckRequest) {
	keys := benchKeySet(b)
	pub, err := benchJWK(&keys.idp.PublicKey, "idp-1", "RS256")
	if err != nil {
		b.Fatal(err)
	}
	deps := benchDeps(b)
	snap := benchCompileSpecs(b, deps, []pipeline.RuleSpec{{
		ID:    "orders",
		Match: &pipeline.MatchSpec{URL: "https://api.test/orders/<[0-9]+>", Methods: []string{"GET"}},
		Authenticators: []pipeline.HandlerSpec{{Handler: "jwt", Config: map[string]any{
			"jwks_urls":       []any{benchWriteJWKS(b, pub)},
			"trusted_issuers": []any{"https://idp.test"},
			"target_audience": []any{"api://gw"},
		}}},
		Authorizer: &pipeline.HandlerSpec{Handler: "allow"},
		Mutators: []pipeline.HandlerSpec{{Handler: "header", Config: map[string]any{
			"headers": map[string]any{"X-User": "{{ print .Subject }}", "X-Email": "{{ print .Extra.email }}"},
		}}},
		Source: "bench-jwt-header",
	}})
	c := benchChecker(snap)
	req := benchJWTRequest(benchToken(b, keys.idp, "alice", time.Now()))
	resp := benchWarm(b, c, req, "orders", "alice")
	if v := benchHeader(resp, "x-email"); v != "alice@example.com" {
		b.Fatalf("x-email %q, want alice@example.com", v)
	}
	return c, req
}

// BenchmarkCheckWireAnonymous measures a check as the gRPC server runs
// it, from the request bytes to the response bytes: codec decode, the
// Check handler (anonymous → allow → header {{ print .Subject }}) and
// codec encode. proto is gRPC's proto codec with the generated service
// (the server before checkCodec); codec is the server's codec and service
// description. Two requests: envoy is what Envoy sends by default
// (benchCheckReq), fixture the modern Envoy request of envoy's testdata
// (mTLS peers, jwt_authn metadata, route metadata, context extensions, a
// body), aimed at the same rule.
func BenchmarkCheckWireAnonymous(b *testing.B) {
	st := &store{}
	st.s.Store(snapshot(b))
	c := benchChecker(st.Current())
	const path = "/public/items/42?page=2"
	req := benchCheckReq("GET", "api.test", path, nil)
	benchWarm(b, c, req, "public", "anonymous")
	benchWire(b, c, "envoy", req, "anonymous")
	benchWire(b, c, "fixture", benchFixtureReq(b, "public", path, ""), "anonymous")
}

// BenchmarkCheckWireJWTHeader is BenchmarkCheckWireAnonymous for the rule
// of BenchmarkCheckJWTHeaderExtra: jwt (RS256, cached) → allow → header
// with {{ print .Subject }} and {{ print .Extra.email }}.
func BenchmarkCheckWireJWTHeader(b *testing.B) {
	c, req := benchJWTHeaderChecker(b)
	benchWire(b, c, "envoy", req, "alice")
	auth := req.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"]
	benchWire(b, c, "fixture", benchFixtureReq(b, "orders", "/orders/42", auth), "alice")
}

// benchFixtureReq is envoy's modern CheckRequest fixture as a GET of path
// on api.test routed to rule (context_extensions.rule_id), with the
// authorization header auth (none when empty).
func benchFixtureReq(b *testing.B, rule, path, auth string) *authv3.CheckRequest {
	b.Helper()
	data, err := os.ReadFile(filepath.Join("..", "envoy", "testdata", "checkrequests", "SYNTHESIZED-modern-envoy-grpc-headers.json"))
	if err != nil {
		b.Fatal(err)
	}
	req := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		b.Fatal(err)
	}
	hr := req.GetAttributes().GetRequest().GetHttp()
	hr.Method, hr.Host, hr.Path = "GET", "api.test", path
	hr.Headers[":method"], hr.Headers[":authority"], hr.Headers[":path"] = "GET", "api.test", path
	req.Attributes.TlsSession.Sni = "api.test"
	req.Attributes.ContextExtensions["rule_id"] = rule
	hr.Headers["authorization"] = auth
	if auth == "" {
		delete(hr.Headers, "authorization")
	}
	return req
}

// benchWire runs req's wire bytes through each codec and Check handler
// pair, as the gRPC server calls them, and checks before and after the
// loop that the response allows and sets X-User to user.
func benchWire(b *testing.B, c *authz.Checker, name string, req *authv3.CheckRequest, user string) {
	b.Helper()
	wire, err := proto.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	in := mem.BufferSlice{mem.SliceBuffer(wire)}
	for _, bc := range []struct {
		name    string
		codec   encoding.CodecV2
		handler grpc.MethodHandler
	}{
		{"proto", encoding.GetCodecV2("proto"), authv3.Authorization_ServiceDesc.Methods[0].Handler},
		{"codec", authz.CheckCodec, authz.CheckServiceDesc.Methods[0].Handler},
	} {
		b.Run(name+"/"+bc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			dec := func(v any) error { return bc.codec.Unmarshal(in, v) }
			check := func() mem.BufferSlice {
				reply, err := bc.handler(c, ctx, dec, nil)
				if err != nil {
					b.Fatal(err)
				}
				out, err := bc.codec.Marshal(reply)
				if err != nil {
					b.Fatal(err)
				}
				return out
			}
			verify := func() {
				out := check()
				defer out.Free()
				resp := &authv3.CheckResponse{}
				if err := proto.Unmarshal(out.Materialize(), resp); err != nil || resp.GetStatus().GetCode() != 0 || benchHeader(resp, "x-user") != user {
					b.Fatalf("response %v %v", resp, err)
				}
			}
			verify()
			b.ReportAllocs()
			cpu := benchProcessCPU(b)
			for b.Loop() {
				// gRPC frees the response buffers once written.
				check().Free()
			}
			// CPU time, GC included, varies less than wall time on a
			// machine shared with other work.
			b.ReportMetric(float64(benchProcessCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
			verify()
		})
	}
}

// benchProcessCPU returns the user and system CPU time of the process so
// far.
func benchProcessCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
