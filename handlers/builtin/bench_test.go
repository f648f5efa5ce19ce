package builtin_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// The benchmarks in this file measure Snapshot.Execute with the shipped
// handlers, on a Request as the front doors build it: the pipeline's
// share of a check, without the wire decoding and encoding (authz and
// envoy measure those). A Request is reused between iterations, as the
// front door's allocation of it is not the pipeline's; Execute only
// rewrites Host and Path, which are reset each time.

// benchSnapshot compiles specs with the builtin handlers over fresh
// dependencies, closed when tb ends.
func benchSnapshot(tb testing.TB, specs ...pipeline.RuleSpec) *pipeline.Snapshot {
	tb.Helper()
	deps := builtin.NewDeps(nil)
	tb.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	on := map[string]pipeline.HandlerConfig{
		"anonymous": {Enabled: true}, "jwt": {Enabled: true}, "allow": {Enabled: true},
		"header": {Enabled: true}, "json": {Enabled: true},
	}
	s, err := pipeline.Compile(specs, pipeline.Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}, reg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// benchRequest is a GET https://api.test<path> with the headers a
// browser-ish client sends through Envoy, plus extra.
func benchRequest(path string, extra map[string]string) *pipeline.Request {
	h := pipeline.Header{
		"user-agent": {"bench/1.0"}, "accept": {"*/*"}, "x-forwarded-proto": {"https"},
		"x-request-id": {"5f0e6c8a-1b2d-4e3f-9a8b-7c6d5e4f3a2b"},
	}
	for k, v := range extra {
		h[k] = []string{v}
	}
	return &pipeline.Request{
		ID: "5f0e6c8a-1b2d-4e3f-9a8b-7c6d5e4f3a2b", Method: "GET", Scheme: "https", Host: "api.test",
		RawPath: path, Header: h, Protocol: "HTTP/2",
		Source: pipeline.Peer{Address: "10.0.0.7", Port: 40000},
	}
}

// How benchExecute runs its iterations.
const (
	// serial runs them one after the other on the benchmark's goroutine.
	serial = "serial"
	// released is serial, each decision released once checked, as a
	// front door does once it has answered (Decision.Release).
	released = "released"
	// parallel runs them on every CPU (b.RunParallel), each goroutine
	// with its own copy of the request.
	parallel = "parallel"
	// freshGoroutine runs each on a new goroutine, which starts on the
	// smallest stack, as a gRPC server without stream workers does: the
	// cost of growing the stack shows in CPU profiles.
	freshGoroutine = "fresh_goroutine"
)

// benchExecute runs r through s b.N times in the given mode, with a
// context that has a deadline as every check's has, and fails unless each
// allows with the X-User header set to user.
func benchExecute(b *testing.B, s *pipeline.Snapshot, r *pipeline.Request, user, mode string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	check := func(r *pipeline.Request, host, path string) bool {
		r.Host, r.Path = host, path
		d := s.Execute(ctx, r)
		if !d.Allowed || d.Session.Header.Get("x-user") != user {
			b.Errorf("decision %s (%v), x-user %q, want an allow for %q", d.Reason, d.Err, d.Session.Header.Get("x-user"), user)
			return false
		}
		if mode == released {
			d.Release()
		}
		return true
	}
	host, path := r.Host, r.Path
	if !check(r, host, path) {
		b.FailNow()
	}
	b.ReportAllocs()
	b.ResetTimer()
	switch mode {
	case parallel:
		b.RunParallel(func(pb *testing.PB) {
			own := *r
			for pb.Next() && check(&own, host, path) {
			}
		})
	case freshGoroutine:
		done := make(chan bool)
		for b.Loop() {
			go func() { done <- check(r, host, path) }()
			if !<-done {
				return
			}
		}
	default:
		for b.Loop() {
			if !check(r, host, path) {
				return
			}
		}
	}
}

// BenchmarkExecuteAnonymousHeader: anonymous → allow → header with
// {{ print .Subject }}, the cheapest common rule.
func BenchmarkExecuteAnonymousHeader(b *testing.B) {
	s, r := anonymousHeader(b)
	for _, mode := range []string{serial, released} {
		b.Run(mode, func(b *testing.B) { benchExecute(b, s, r, "anonymous", mode) })
	}
}

// anonymousHeader returns the snapshot and request of
// BenchmarkExecuteAnonymousHeader.
func anonymousHeader(tb testing.TB) (*pipeline.Snapshot, *pipeline.Request) {
	s := benchSnapshot(tb, pipeline.RuleSpec{
		ID:             "public",
		Match:          &pipeline.MatchSpec{URL: "https://api.test/public/<.*>", Methods: []string{"GET"}},
		Authenticators: []pipeline.HandlerSpec{{Handler: "anonymous"}},
		Authorizer:     &pipeline.HandlerSpec{Handler: "allow"},
		Mutators: []pipeline.HandlerSpec{{Handler: "header", Config: map[string]any{
			"headers": map[string]any{"X-User": "{{ print .Subject }}"},
		}}},
	})
	return s, benchRequest("/public/items/42", nil)
}

// BenchmarkExecuteJWTHeader: jwt (RS256, key set from a local JWKS file,
// token cached) → allow → header with {{ print .Subject }} and
// {{ print .Extra.tenant }}, the common production rule, in each mode of
// benchExecute: parallel and fresh_goroutine are for CPU profiles of the
// shapes a server sees (many streams at once, each on its own goroutine).
func BenchmarkExecuteJWTHeader(b *testing.B) {
	s, r := jwtHeader(b)
	for _, mode := range []string{serial, released, parallel, freshGoroutine} {
		b.Run(mode, func(b *testing.B) { benchExecute(b, s, r, "alice", mode) })
	}
}

// jwtHeader returns the snapshot and request of BenchmarkExecuteJWTHeader.
func jwtHeader(tb testing.TB) (*pipeline.Snapshot, *pipeline.Request) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	s := benchSnapshot(tb, pipeline.RuleSpec{
		ID:    "orders",
		Match: &pipeline.MatchSpec{URL: "https://api.test/orders/<[0-9]+>", Methods: []string{"GET"}},
		Authenticators: []pipeline.HandlerSpec{{Handler: "jwt", Config: map[string]any{
			"jwks_urls":       []any{benchJWKSFile(tb, &key.PublicKey)},
			"trusted_issuers": []any{"https://idp.test"},
			"target_audience": []any{"api://gw"},
		}}},
		Authorizer: &pipeline.HandlerSpec{Handler: "allow"},
		Mutators: []pipeline.HandlerSpec{{Handler: "header", Config: map[string]any{
			"headers": map[string]any{"X-User": "{{ print .Subject }}", "X-Tenant": "{{ print .Extra.tenant }}"},
		}}},
	})
	return s, benchRequest("/orders/42", map[string]string{"authorization": "Bearer " + benchJWT(tb, key, "alice")})
}

// benchJWKSFile writes pub as a one-key JWKS (kid "k1") and returns its
// file:// URL.
func benchJWKSFile(tb testing.TB, pub *rsa.PublicKey) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	doc, err := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": enc.EncodeToString(pub.N.Bytes()), "e": enc.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "jwks.json")
	if err := os.WriteFile(p, doc, 0o600); err != nil {
		tb.Fatal(err)
	}
	return "file://" + p
}

// benchJWT returns an RS256 token for sub of tenant "acme", valid for an
// hour, that the orders rule accepts.
func benchJWT(tb testing.TB, key *rsa.PrivateKey, sub string) string {
	tb.Helper()
	enc := base64.RawURLEncoding
	now := time.Now()
	claims, err := json.Marshal(map[string]any{
		"iss": "https://idp.test", "aud": "api://gw", "sub": sub, "tenant": "acme", "email": sub + "@example.com",
		"roles": []string{"reader", "admin"}, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	signed := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		tb.Fatal(err)
	}
	return signed + "." + enc.EncodeToString(sig)
}

// TestExecuteAllocations guards the pipeline's share of the allocations
// of a check (see the benchmarks above): the session with its URL, the
// upstream header map, the matcher's captures and, for jwt, the copy of
// the cached claims; with Decision.Release, only the captures and the
// claims. The ceilings leave room for the race detector, whose sync.Pool
// drops items at random.
func TestExecuteAllocations(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for _, tt := range []struct {
		name    string
		build   func(testing.TB) (*pipeline.Snapshot, *pipeline.Request)
		release bool
		max     float64
	}{
		{"anonymous → allow → header", anonymousHeader, false, 5},
		{"anonymous → allow → header, released", anonymousHeader, true, 3},
		{"jwt → allow → header", jwtHeader, false, 10},
		{"jwt → allow → header, released", jwtHeader, true, 7},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, r := tt.build(t)
			host, path := r.Host, r.Path
			allocs := testing.AllocsPerRun(200, func() {
				r.Host, r.Path = host, path
				d := s.Execute(ctx, r)
				if !d.Allowed {
					t.Fatalf("denied: %s %v", d.Reason, d.Err)
				}
				if tt.release {
					d.Release()
				}
			})
			if allocs > tt.max {
				t.Fatalf("Execute costs %v allocations, want at most %v", allocs, tt.max)
			}
		})
	}
}
