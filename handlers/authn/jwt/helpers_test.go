package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"go.uber.org/goleak"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// Fixture keys of SECURITY_CASES.md, generated once per run: K1 and E1 are
// in the JWKS of https://idp.test, K2 in that of https://idp2.test, KA is
// the attacker's and in no JWKS. ED is an Ed25519 key for EdDSA.
var (
	K1, K2, KA *rsa.PrivateKey
	E1         *ecdsa.PrivateKey
	ED         ed25519.PrivateKey
	keysOnce   sync.Once
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func fixtureKeys(tb testing.TB) {
	tb.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		K1, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		K2, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		KA, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		E1, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		_, ED, err = ed25519.GenerateKey(rand.Reader)
		must(err)
	})
}

// NOW is the fixed clock of every authenticator built by env.
var NOW = time.Unix(1_800_000_000, 0)

// C0 returns the valid claims of SECURITY_CASES.md, to be modified.
func C0() map[string]any {
	n := NOW.Unix()
	return map[string]any{"iss": "https://idp.test", "sub": "alice", "aud": "api://gw",
		"iat": n, "nbf": n, "exp": n + 300, "jti": "t-1"}
}

// H0 returns the valid header.
func H0() map[string]any { return map[string]any{"alg": "RS256", "typ": "JWT", "kid": "k1"} }

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jsonSeg(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b64u(b)
}

// signSegs signs the already-encoded header and payload segments.
func signSegs(tb testing.TB, alg jwa.SignatureAlgorithm, key any, h, p string) string {
	tb.Helper()
	s, err := jws.NewSigner(alg)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := s.Sign([]byte(h+"."+p), key)
	if err != nil {
		tb.Fatal(err)
	}
	return h + "." + p + "." + b64u(sig)
}

// tok signs header and claims (any JSON values) with key; the alg of the
// signature is the header's alg.
func tok(tb testing.TB, key any, hdr map[string]any, claims any) string {
	tb.Helper()
	alg := jwa.SignatureAlgorithm(hdr["alg"].(string))
	return signSegs(tb, alg, key, jsonSeg(tb, hdr), jsonSeg(tb, claims))
}

// hdr returns H0 with changes (nil deletes).
func hdr(changes map[string]any) map[string]any { return with(H0(), changes) }

// claims returns C0 with changes (nil deletes).
func claims(changes map[string]any) map[string]any { return with(C0(), changes) }

func with(m, changes map[string]any) map[string]any {
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// publicJWK renders a public key as a JWK with members.
func publicJWK(tb testing.TB, raw any, members map[string]any) map[string]any {
	tb.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(k)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return with(m, members)
}

func jwksDoc(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// idpServer serves a JWKS and counts requests.
type idpServer struct {
	*httptest.Server
	hits   atomic.Int64
	served chan struct{} // gets a value after each answer (never blocks)
	mu     sync.Mutex
	body   []byte
	status int
}

func newIDP(tb testing.TB, body []byte) *idpServer {
	tb.Helper()
	s := &idpServer{body: body, status: http.StatusOK, served: make(chan struct{}, 1)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write(body)
		select {
		case s.served <- struct{}{}:
		default:
		}
	}))
	tb.Cleanup(s.Close)
	return s
}

// waitHits blocks until the server has answered at least n requests. It
// has no deadline of its own: a wait that never ends is a bug that the
// test binary's -timeout reports, and a slow machine cannot fail it.
func (s *idpServer) waitHits(n int64) {
	for s.hits.Load() < n {
		<-s.served
	}
}

func (s *idpServer) set(body []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body != nil {
		s.body = body
	}
	s.status = status
}

// manualClock is a clock that moves only when a test advances it, so
// rate limits and staleness are counted in steps, never raced.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

// Now returns the current manual time.
func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a test world: the idp.test and idp2.test JWKS endpoints and a
// JWKS cache whose intervals run on clock.
type env struct {
	idp, idp2 *idpServer
	keys      *jwks.Cache
	clock     *manualClock
}

// newEnv builds the world. Unless o.Now is set, the JWKS cache runs on
// e.clock, a manual clock at NOW; tests that need jwks.Cache.Run (real
// timers) pass time.Now.
func newEnv(tb testing.TB, o jwks.Options) *env {
	tb.Helper()
	fixtureKeys(tb)
	e := &env{
		clock: &manualClock{now: NOW},
		idp: newIDP(tb, jwksDoc(
			publicJWK(tb, &K1.PublicKey, map[string]any{"kid": "k1", "alg": "RS256", "use": "sig"}),
			publicJWK(tb, &E1.PublicKey, map[string]any{"kid": "e1", "alg": "ES256"}),
		)),
		idp2: newIDP(tb, jwksDoc(publicJWK(tb, &K2.PublicKey, map[string]any{"kid": "k2", "alg": "RS256", "use": "sig"}))),
	}
	// Generous failure bounds: a loopback fetch on a loaded machine must
	// not fail a test that expects it to succeed.
	if o.Client == nil {
		o.Client = outbound.New(outbound.Options{Timeout: time.Minute})
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = time.Minute
	}
	if o.Now == nil {
		o.Now = e.clock.Now
	}
	e.keys = jwks.New(o)
	tb.Cleanup(func() { _ = e.keys.Close() })
	return e
}

// J0 is the rule config of SECURITY_CASES.md.
func (e *env) J0() Config {
	return Config{
		JWKSURLs:          []string{e.idp.URL + "/.well-known/jwks.json"},
		TrustedIssuers:    []string{"https://idp.test"},
		TargetAudience:    []string{"api://gw"},
		AllowedAlgorithms: []string{"RS256", "ES256"},
		AllowedClockSkew:  pipeline.Duration(30 * time.Second),
	}
}

// auth builds an authenticator on the fixed clock. Unless the config sets
// jwks_max_wait, a request waits for a key set fetch however long it
// takes, so that a loaded machine cannot turn a slow loopback fetch into a
// 503 (the default of 1s is a production bound, not a test's subject).
func (e *env) auth(tb testing.TB, c Config, tokens *TokenCache) *Authenticator {
	tb.Helper()
	h, err := New(c, e.keys, tokens, nil)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	a := h.(*Authenticator)
	a.now = func() time.Time { return NOW }
	if c.JWKSMaxWait == 0 {
		a.maxWait = time.Hour
	}
	tb.Cleanup(func() { _ = a.Close() })
	return a
}

func bearer(t string) *pipeline.Request {
	return &pipeline.Request{Header: pipeline.Header{"authorization": {"Bearer " + t}}}
}

func run(a *Authenticator, r *pipeline.Request) (*pipeline.Session, error) {
	s := &pipeline.Session{}
	err := a.Authenticate(context.Background(), r, s)
	return s, err
}

// jsonNull is a claim value that marshals to JSON null (a nil in a change
// map deletes the claim instead).
var jsonNull = json.RawMessage("null")

// blockingServer never answers until the client gives up or the test
// ends.
func blockingServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() { close(release) }) // runs first
	return srv
}
