package idtoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// fakeClock is a settable clock shared by Signers and the verifier.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// testRSAKey returns one 2048-bit key per test binary: generating RSA
// keys is slow, especially under -race.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaKey = k
	})
	return rsaKey
}

func newECKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEdKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwkOf converts a raw key and sets the given members ("kid", "alg",
// "use"; empty values are left out).
func jwkOf(t testing.TB, raw any, members ...string) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(members); i += 2 {
		if members[i+1] == "" {
			continue
		}
		if err := k.Set(members[i], members[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// jwksJSON serialises keys as a JWKS document.
func jwksJSON(t testing.TB, keys ...jwk.Key) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeJWKS writes a JWKS to a temp file and returns its file:// URL.
func writeJWKS(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// fixtureURL returns the file:// URL of a testdata file.
func fixtureURL(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// newMutator builds a mutator and fails the test on error. The mutator is
// kept alive until the test ends, as a live rule snapshot would keep it:
// Signers only holds weak references, and a collected mutator's keys would
// vanish from the published set mid-test.
func newMutator(t testing.TB, c Config, s *Signers) *Mutator {
	t.Helper()
	m, err := New(c, s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { runtime.KeepAlive(m) })
	return m.(*Mutator)
}

// mutate runs m on a fresh session and returns the session.
func mutate(t testing.TB, m *Mutator, subject string, extra map[string]any) *pipeline.Session {
	t.Helper()
	s := &pipeline.Session{Subject: subject, Extra: extra}
	if err := m.Mutate(context.Background(), &pipeline.Request{}, s); err != nil {
		t.Fatalf("Mutate: %v", err)
	}
	return s
}

// bearer returns the token from the Authorization header value.
func bearer(t testing.TB, s *pipeline.Session) string {
	t.Helper()
	v := s.Header.Get("authorization")
	tok, ok := strings.CutPrefix(v, "Bearer ")
	if !ok || tok == "" {
		t.Fatalf("authorization header %q has no bearer token", v)
	}
	return tok
}

// publishedSet parses what PublicJWKS serves.
func publishedSet(t testing.TB, s *Signers) jwk.Set {
	t.Helper()
	b, err := s.PublicJWKS()
	if err != nil {
		t.Fatal(err)
	}
	set, err := jwk.Parse(b)
	if err != nil {
		t.Fatalf("parse published jwks: %v\n%s", err, b)
	}
	return set
}

// verify checks tok against the published JWKS the way a receiving
// service would, and returns the claims.
func verify(t testing.TB, s *Signers, clk *fakeClock, tok, issuer string) jwt.Token {
	t.Helper()
	parsed, err := jwt.Parse([]byte(tok), jwt.WithKeySet(publishedSet(t, s)),
		jwt.WithClock(jwt.ClockFunc(clk.Now)), jwt.WithIssuer(issuer))
	if err != nil {
		t.Fatalf("verify with published JWKS: %v", err)
	}
	return parsed
}
