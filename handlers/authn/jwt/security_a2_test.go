package jwt

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/token"
)

// SECURITY_CASES.md A-18 to A-39 (A-08 and A-35 have their own tests).
func TestSecurityCasesA18toA39(t *testing.T) {
	fixtureKeys(t)
	signed := func(h, c map[string]any) func(testing.TB, *env, *Config) string {
		return func(tb testing.TB, _ *env, _ *Config) string { return tok(tb, K1, h, c) }
	}
	aud := func(v any) func(testing.TB, *env, *Config) string {
		return signed(H0(), claims(map[string]any{"aud": v}))
	}
	valid := func(tb testing.TB) string { return tok(tb, K1, H0(), unalignedClaims(tb)) }
	parts := func(tb testing.TB) []string { return strings.Split(valid(tb), ".") }
	stdB64 := func(s string) string {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		return base64.StdEncoding.EncodeToString(b)
	}
	servedBy := func(keys ...map[string]any) func(testing.TB, *env, *Config) {
		return func(tb testing.TB, _ *env, c *Config) {
			srv := newIDP(tb, jwksDoc(keys...))
			c.JWKSURLs = []string{srv.URL}
		}
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	hsKey := []byte(strings.Repeat("s", 32))
	bigN, _ := new(big.Int).SetString("1"+strings.Repeat("0", 4900), 10)
	viaQuery := &token.From{QueryParameter: "token"}
	rows := []secCase{
		{"A-18 aud string equal", aud("api://gw"), ""},
		{"A-18 aud array containing", aud([]string{"other", "api://gw"}), ""},
		{"A-18 aud string with a suffix", aud("api://gwX"), ReasonAudienceMismatch},
		{"A-18 aud differs in case", aud([]string{"API://GW"}), ReasonAudienceMismatch},
		{"A-18 aud absent", aud(nil), ReasonAudienceMismatch},
		{"A-18 aud a number", aud(123), ReasonClaimInvalid},
		{"A-18 aud an empty array", aud([]string{}), ReasonAudienceMismatch},
		{"A-18 aud array with a non-string", aud([]any{"api://gw", 1}), ReasonClaimInvalid},
		{"A-18 every target audience is required", func(tb testing.TB, _ *env, c *Config) string {
			c.TargetAudience = []string{"api://gw", "api://other"}
			return tok(tb, K1, H0(), C0())
		}, ReasonAudienceMismatch},

		{"A-21 gateway-minted token for svc-a replayed", signed(H0(), claims(map[string]any{"iss": "https://gw.test", "aud": "svc-a"})), ReasonAudienceMismatch},
		{"A-21 gateway issuer with the right audience", signed(H0(), claims(map[string]any{"iss": "https://gw.test"})), ReasonIssuerUntrusted},
		{"A-21 gateway key is not in the JWKS", func(tb testing.TB, _ *env, _ *Config) string {
			return tok(tb, KA, hdr(map[string]any{"kid": "gw-1"}), claims(map[string]any{"iss": "https://gw.test", "aud": "svc-a"}))
		}, ReasonKeyNotFound},

		{"A-24 standard base64 with padding", func(tb testing.TB, _ *env, _ *Config) string {
			p := parts(tb)
			return stdB64(p[0]) + "." + stdB64(p[1]) + "." + p[2]
		}, ReasonMalformed},
		{"A-24 padded signature", func(tb testing.TB, _ *env, _ *Config) string { return valid(tb) + "==" }, ReasonMalformed},
		{"A-24 sibling last payload character", func(tb testing.TB, _ *env, _ *Config) string {
			p := parts(tb)
			return p[0] + "." + sibling(tb, p[1]) + "." + p[2]
		}, ReasonMalformed},
		{"A-24 sibling last signature character", func(tb testing.TB, _ *env, _ *Config) string {
			p := parts(tb)
			return p[0] + "." + p[1] + "." + sibling(tb, p[2])
		}, ReasonMalformed},
		{"A-24 newline inside a segment", func(tb testing.TB, _ *env, _ *Config) string {
			p := parts(tb)
			return p[0] + "." + p[1][:10] + "\n" + p[1][10:] + "." + p[2]
		}, ReasonMalformed},

		{"A-28 general JSON serialization", func(tb testing.TB, _ *env, c *Config) string {
			p := parts(tb)
			c.TokenFrom = viaQuery
			return `{"payload":"` + p[1] + `","signatures":[{"protected":"` + p[0] + `","signature":"AAAA"},{"protected":"` + p[0] + `","signature":"` + p[2] + `"}]}`
		}, ReasonMalformed},
		{"A-28 general JSON serialization in the Authorization header", func(tb testing.TB, _ *env, _ *Config) string {
			p := parts(tb)
			return `{"payload":"` + p[1] + `","signatures":[{"protected":"` + p[0] + `","signature":"AAAA"},{"protected":"` + p[0] + `","signature":"` + p[2] + `"}]}`
		}, token.ReasonAmbiguous},
		{"A-28 flattened with an unprotected none header", func(tb testing.TB, _ *env, c *Config) string {
			p := parts(tb)
			c.TokenFrom = viaQuery
			return `{"payload":"` + p[1] + `","protected":"` + p[0] + `","header":{"kid":"zzz","alg":"none"},"signature":"` + p[2] + `"}`
		}, ReasonMalformed},
		{"A-28 flattened with an unprotected none header in the Authorization header", func(tb testing.TB, _ *env, _ *Config) string {
			p := parts(tb)
			return `{"payload":"` + p[1] + `","protected":"` + p[0] + `","header":{"kid":"zzz","alg":"none"},"signature":"` + p[2] + `"}`
		}, token.ReasonAmbiguous},
		{"A-28 flattened without protected", func(tb testing.TB, _ *env, c *Config) string {
			p := parts(tb)
			c.TokenFrom = viaQuery
			return `{"payload":"` + p[1] + `","signature":"` + p[2] + `"}`
		}, ReasonMalformed},
		{"A-28 flattened without protected in the Authorization header", func(tb testing.TB, _ *env, _ *Config) string {
			p := parts(tb)
			return `{"payload":"` + p[1] + `","signature":"` + p[2] + `"}`
		}, token.ReasonAmbiguous},

		{"A-30 one MiB of dots", func(testing.TB, *env, *Config) string { return strings.Repeat(".", 1<<20) }, ReasonTooLarge},
		{"A-30 a-dot repeated 512Ki times", func(testing.TB, *env, *Config) string { return strings.Repeat("a.", 512<<10) }, ReasonTooLarge},
		{"A-30 validly signed token with a 20 KiB claim", signed(H0(), claims(map[string]any{"pad": strings.Repeat("x", 20<<10)})), ReasonTooLarge},
		{"A-30 claims nested 100000 deep", func(tb testing.TB, _ *env, _ *Config) string {
			p := b64u([]byte(strings.Repeat("[", 100000) + strings.Repeat("]", 100000)))
			return signSegs(tb, "RS256", K1, jsonSeg(tb, H0()), p)
		}, ReasonTooLarge},
		{"A-30 a few dots is an opaque token for someone else", func(testing.TB, *env, *Config) string { return "a.b.c.d.e" }, "skip"},

		{"A-32 RSA-1024 key in the JWKS", func(tb testing.TB, e *env, c *Config) string {
			servedBy(publicJWK(tb, &weak.PublicKey, map[string]any{"kid": "w1"}))(tb, e, c)
			return tok(tb, weak, hdr(map[string]any{"kid": "w1"}), C0())
		}, ReasonKeyNotFound},
		{"A-32 RSA exponent 1", func(tb testing.TB, e *env, c *Config) string {
			servedBy(publicJWK(tb, &rsa.PublicKey{N: K1.N, E: 1}, map[string]any{"kid": "e-one"}))(tb, e, c)
			return tok(tb, K1, hdr(map[string]any{"kid": "e-one"}), C0())
		}, ReasonKeyNotFound},
		{"A-32 16384-bit RSA key", func(tb testing.TB, e *env, c *Config) string {
			servedBy(publicJWK(tb, &rsa.PublicKey{N: bigN.SetBit(bigN, 16383, 1), E: 65537}, map[string]any{"kid": "huge"}))(tb, e, c)
			return tok(tb, KA, hdr(map[string]any{"kid": "huge"}), C0())
		}, ReasonKeyNotFound},
		{"A-32 oct key in an asymmetric rule, HS256 token", func(tb testing.TB, e *env, c *Config) string {
			servedBy(publicJWK(tb, hsKey, map[string]any{"kid": "h1"}))(tb, e, c)
			return hmacTok(tb, hsKey, map[string]any{"alg": "HS256", "kid": "h1"}, C0())
		}, ReasonAlgorithmNotAllowed},
		{"A-32 oct key never fits RS256", func(tb testing.TB, e *env, c *Config) string {
			servedBy(publicJWK(tb, hsKey, map[string]any{"kid": "h1"}))(tb, e, c)
			return tok(tb, KA, hdr(map[string]any{"kid": "h1"}), C0())
		}, ReasonKeyNotFound},
		{"A-32 use enc key is never used", func(tb testing.TB, e *env, c *Config) string {
			servedBy(publicJWK(tb, &K1.PublicKey, map[string]any{"kid": "k1", "use": "enc"}))(tb, e, c)
			return tok(tb, K1, H0(), C0())
		}, ReasonKeyNotFound},

		{"A-37 nested JWT with cty JWT", func(tb testing.TB, _ *env, _ *Config) string {
			inner := jsonSeg(tb, map[string]any{"alg": "none"}) + "." + jsonSeg(tb, claims(map[string]any{"sub": "admin"})) + "."
			return signSegs(tb, "RS256", K1, jsonSeg(tb, hdr(map[string]any{"cty": "JWT"})), b64u([]byte(inner)))
		}, ReasonUnsupported},
		{"A-37 nested JWT without cty is not a claims object", func(tb testing.TB, _ *env, _ *Config) string {
			inner := jsonSeg(tb, map[string]any{"alg": "none"}) + "." + jsonSeg(tb, claims(map[string]any{"sub": "admin"})) + "."
			return signSegs(tb, "RS256", K1, jsonSeg(tb, H0()), b64u([]byte(inner)))
		}, ReasonMalformed},

		{"A-39 HMAC secret of 6 bytes in the JWKS is dropped", func(tb testing.TB, _ *env, c *Config) string {
			path := filepath.Join(tb.TempDir(), "jwks.json")
			doc := jwksDoc(publicJWK(tb, []byte("secret"), map[string]any{"kid": "hw", "alg": "HS256"}))
			if err := os.WriteFile(path, doc, 0o600); err != nil {
				tb.Fatal(err)
			}
			c.JWKSURLs = []string{"file://" + filepath.ToSlash(path)}
			c.AllowedAlgorithms = []string{"HS256"}
			return hmacTok(tb, []byte("secret"), map[string]any{"alg": "HS256", "kid": "hw"}, C0())
		}, ReasonKeyNotFound},
	}
	runCases(t, rows)
}

// jku, x5u, x5c and jwk headers never cause a fetch or a key choice.
func TestSecurityCaseA08KeyURLHeadersAreNeverUsed(t *testing.T) {
	fixtureKeys(t)
	var conns atomic.Int64
	attacker := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(jwksDoc(publicJWK(t, &KA.PublicKey, map[string]any{"kid": "k1"})))
	}))
	attacker.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	attacker.Start()
	defer attacker.Close()
	cert := selfSigned(t, KA)
	e := newEnv(t, envOptions())
	a := e.auth(t, e.J0(), nil)
	tests := []struct {
		name string
		h    map[string]any
	}{
		{"jku and x5u at the attacker", hdr(map[string]any{"jku": attacker.URL + "/jwks.json", "x5u": attacker.URL + "/c.pem"})},
		{"x5c with the attacker certificate", hdr(map[string]any{"x5c": []string{base64.StdEncoding.EncodeToString(cert)}})},
		{"embedded jwk of the attacker", hdr(map[string]any{"jwk": publicJWK(t, &KA.PublicKey, nil)})},
		{"jku without kid", hdr(map[string]any{"kid": nil, "jku": attacker.URL + "/jwks.json"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tok(t, KA, tt.h, C0())
			s, err := run(a, bearer(raw))
			checkOutcome(t, ReasonSignatureInvalid, s, err, raw)
		})
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("the attacker listener received %d connections", n)
	}
}

func selfSigned(tb testing.TB, k *rsa.PrivateKey) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}
