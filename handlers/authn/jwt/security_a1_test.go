package jwt

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// SECURITY_CASES.md.
func TestSecurityCasesA01toA16(t *testing.T) {
	fixtureKeys(t)
	n := NOW.Unix()
	none := func(alg, sig string) func(testing.TB, *env, *Config) string {
		return func(tb testing.TB, _ *env, _ *Config) string {
			return jsonSeg(tb, map[string]any{"alg": alg, "kid": "k1"}) + "." + jsonSeg(tb, C0()) + "." + sig
		}
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&K1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsWith := func(key []byte, allowHS bool) func(testing.TB, *env, *Config) string {
		return func(tb testing.TB, _ *env, c *Config) string {
			if allowHS {
				c.AllowedAlgorithms = append(c.AllowedAlgorithms, "HS256")
			}
			return hmacTok(tb, key, hdr(map[string]any{"alg": "HS256"}), C0())
		}
	}
	kidTok := func(kid string) func(testing.TB, *env, *Config) string {
		return func(tb testing.TB, _ *env, _ *Config) string {
			return tok(tb, KA, hdr(map[string]any{"kid": kid}), C0())
		}
	}
	signed := func(h, c map[string]any) func(testing.TB, *env, *Config) string {
		return func(tb testing.TB, _ *env, _ *Config) string { return tok(tb, K1, h, c) }
	}
	expAt := func(offset int64, skew time.Duration) func(testing.TB, *env, *Config) string {
		return func(tb testing.TB, _ *env, c *Config) string {
			c.AllowedClockSkew = pipeline.Duration(skew)
			return tok(tb, K1, H0(), claims(map[string]any{"exp": n + offset, "nbf": n - 600, "iat": n - 600}))
		}
	}
	rows := []secCase{
		{"A-01 alg none", none("none", ""), ReasonAlgorithmNotAllowed},
		{"A-01 alg None", none("None", ""), ReasonAlgorithmNotAllowed},
		{"A-01 alg NONE", none("NONE", ""), ReasonAlgorithmNotAllowed},
		{"A-01 alg nOnE", none("nOnE", ""), ReasonAlgorithmNotAllowed},
		{"A-01 alg none with junk signature", none("none", "AAAA"), ReasonAlgorithmNotAllowed},
		{"A-01 alg missing", none("", ""), ReasonAlgorithmNotAllowed},

		{"A-02 HS256 keyed with the PEM of K1", hsWith(pubPEM, false), ReasonAlgorithmNotAllowed},
		{"A-02 HS256 keyed with the DER of K1", hsWith(pubDER, false), ReasonAlgorithmNotAllowed},
		{"A-02 HS256 keyed with the modulus of K1", hsWith(K1.N.Bytes(), false), ReasonAlgorithmNotAllowed},
		{"A-02 HS256 allowed by the rule still never uses an RSA key", hsWith(pubPEM, true), ReasonKeyNotFound},

		{"A-04 ES256 by E1 when the rule allows only RS256", func(tb testing.TB, _ *env, c *Config) string {
			c.AllowedAlgorithms = []string{"RS256"}
			return tok(tb, E1, hdr(map[string]any{"alg": "ES256", "kid": "e1"}), C0())
		}, ReasonAlgorithmNotAllowed},
		{"A-04 PS256 by K1 not in the allowlist", signed(hdr(map[string]any{"alg": "PS256"}), C0()), ReasonAlgorithmNotAllowed},
		{"A-04 PS256 allowed but K1 is an RS256 key", func(tb testing.TB, _ *env, c *Config) string {
			c.AllowedAlgorithms = []string{"PS256"}
			return tok(tb, K1, hdr(map[string]any{"alg": "PS256"}), C0())
		}, ReasonKeyNotFound},
		{"A-04 ES256 by E1 when allowed", func(tb testing.TB, _ *env, _ *Config) string {
			return tok(tb, E1, hdr(map[string]any{"alg": "ES256", "kid": "e1"}), C0())
		}, ""},
		{"A-04 alg names are case-sensitive", func(tb testing.TB, _ *env, _ *Config) string {
			return signSegs(tb, "RS256", K1, jsonSeg(tb, hdr(map[string]any{"alg": "rs256"})), jsonSeg(tb, C0()))
		}, ReasonAlgorithmNotAllowed},

		{"A-05 kid path traversal with HS256 and an empty key", func(tb testing.TB, _ *env, c *Config) string {
			c.AllowedAlgorithms = append(c.AllowedAlgorithms, "HS256")
			return hmacTok(tb, nil, map[string]any{"alg": "HS256", "kid": "../../../../dev/null"}, C0())
		}, ReasonKeyNotFound},
		{"A-05 kid SQL injection", kidTok(`x' UNION SELECT 'secret'--`), ReasonKeyNotFound},
		{"A-05 kid with NUL", kidTok("k1\x00"), ReasonKeyNotFound},
		{"A-05 kid with CRLF header injection", kidTok("k1\r\nX-Injected: 1"), ReasonKeyNotFound},
		{"A-05 kid of 10 KiB", kidTok(strings.Repeat("k", 10<<10)), ReasonKeyNotFound},
		{"A-05 kid k1 but signed by the attacker", kidTok("k1"), ReasonSignatureInvalid},

		{"A-10 b64 false with the raw payload", func(tb testing.TB, _ *env, _ *Config) string {
			h := jsonSeg(tb, hdr(map[string]any{"b64": false, "crit": []string{"b64"}}))
			return signSegs(tb, "RS256", K1, h, `{"iss":"https://idp.test"}`)
		}, ReasonMalformed},
		{"A-10 b64 false with a raw payload of several claims", func(tb testing.TB, _ *env, _ *Config) string {
			// The commas of the raw JSON already make the header ambiguous.
			h := jsonSeg(tb, hdr(map[string]any{"b64": false, "crit": []string{"b64"}}))
			raw := `{"iss":"https://idp.test","sub":"alice","aud":"api://gw","exp":` + itoa(n+300) + `}`
			return signSegs(tb, "RS256", K1, h, raw)
		}, token.ReasonAmbiguous},
		{"A-10 b64 false over an encoded payload", signed(hdr(map[string]any{"b64": false, "crit": []string{"b64"}}), C0()), ReasonUnsupported},
		{"A-10 crit with an unknown extension", signed(hdr(map[string]any{"crit": []string{"exp"}, "exp": 1}), C0()), ReasonUnsupported},
		{"A-10 empty crit", signed(hdr(map[string]any{"crit": []string{}}), C0()), ReasonUnsupported},

		{"A-11 missing exp", signed(H0(), claims(map[string]any{"exp": nil})), ReasonClaimMissing},
		{"A-11 missing exp allowed when required_claims is empty", func(tb testing.TB, _ *env, c *Config) string {
			c.RequiredClaims = []string{}
			return tok(tb, K1, H0(), claims(map[string]any{"exp": nil}))
		}, ""},
		{"A-11 exp null", signed(H0(), claims(map[string]any{"exp": json.RawMessage("null")})), ReasonClaimInvalid},

		{"A-13 exp as numeric string", signed(H0(), claims(map[string]any{"exp": "9999999999"})), ReasonClaimInvalid},
		{"A-13 exp as RFC 3339 string", signed(H0(), claims(map[string]any{"exp": "2999-01-01T00:00:00Z"})), ReasonClaimInvalid},
		{"A-13 nbf as string", signed(H0(), claims(map[string]any{"nbf": itoa(n)})), ReasonClaimInvalid},
		{"A-13 iat as string", signed(H0(), claims(map[string]any{"iat": itoa(n)})), ReasonClaimInvalid},
		{"A-13 exp as bool", signed(H0(), claims(map[string]any{"exp": true})), ReasonClaimInvalid},
		{"A-13 exp with a fraction is a number", signed(H0(), claims(map[string]any{"exp": float64(n) + 0.5})), ""},

		{"A-14 leeway 30s exp now-10s", expAt(-10, 30*time.Second), ""},
		{"A-14 leeway 30s exp now-29s", expAt(-29, 30*time.Second), ""},
		{"A-14 leeway 30s exp now-30s", expAt(-30, 30*time.Second), ReasonExpired},
		{"A-14 leeway 30s exp now-31s", expAt(-31, 30*time.Second), ReasonExpired},
		{"A-14 leeway 30s exp now-120s", expAt(-120, 30*time.Second), ReasonExpired},
		{"A-14 leeway 0 exp now-10s", expAt(-10, 0), ReasonExpired},
		{"A-14 leeway 0 exp now", expAt(0, 0), ReasonExpired},
		{"A-14 leeway 0 exp now+1s", expAt(1, 0), ""},
		{"A-14 leeway 30s nbf now+29s", signed(H0(), claims(map[string]any{"nbf": n + 29, "iat": n - 1})), ""},
		{"A-14 leeway 30s nbf now+31s", signed(H0(), claims(map[string]any{"nbf": n + 31})), ReasonNotYetValid},
		{"A-14 leeway 30s iat now+31s", signed(H0(), claims(map[string]any{"iat": n + 31, "nbf": nil})), ReasonIssuedInFuture},

		{"A-16 exp in milliseconds is beyond year 9999", func(tb testing.TB, _ *env, c *Config) string {
			c.MaxTokenLifetime = pipeline.Duration(24 * time.Hour)
			return tok(tb, K1, H0(), claims(map[string]any{"exp": 9999999999999}))
		}, ReasonClaimInvalid},
		{"A-16 exp in year 9999 with max lifetime 24h", func(tb testing.TB, _ *env, c *Config) string {
			c.MaxTokenLifetime = pipeline.Duration(24 * time.Hour)
			return tok(tb, K1, H0(), claims(map[string]any{"exp": MaxNumericDate}))
		}, ReasonLifetimeTooLong},
		{"A-16 one year lifetime with max 24h", func(tb testing.TB, _ *env, c *Config) string {
			c.MaxTokenLifetime = pipeline.Duration(24 * time.Hour)
			return tok(tb, K1, H0(), claims(map[string]any{"iat": n, "exp": n + 365*86400}))
		}, ReasonLifetimeTooLong},
		{"A-16 issued long ago, lifetime over max", func(tb testing.TB, _ *env, c *Config) string {
			c.MaxTokenLifetime = pipeline.Duration(time.Hour)
			return tok(tb, K1, H0(), claims(map[string]any{"iat": n - 7200, "nbf": nil, "exp": n + 60}))
		}, ReasonLifetimeTooLong},
		{"A-16 one hour lifetime with max 24h", func(tb testing.TB, _ *env, c *Config) string {
			c.MaxTokenLifetime = pipeline.Duration(24 * time.Hour)
			return tok(tb, K1, H0(), claims(map[string]any{"exp": n + 3600}))
		}, ""},
		{"A-16 max lifetime needs exp even without required_claims", func(tb testing.TB, _ *env, c *Config) string {
			c.MaxTokenLifetime = pipeline.Duration(24 * time.Hour)
			c.RequiredClaims = []string{}
			return tok(tb, K1, H0(), claims(map[string]any{"exp": nil}))
		}, ReasonClaimMissing},
	}
	runCases(t, rows)
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
