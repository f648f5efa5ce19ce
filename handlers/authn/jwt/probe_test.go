package jwt

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestJWXLeniencyProbes runs hostile tokens through jwx v2's own
// jwt.Parse(WithKeySet) (logged, for the record: where it says "accepted"
// the gap is real in jwx) and asserts that Portcullis rejects each one.
func TestJWXLeniencyProbes(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	for _, k := range []map[string]any{
		publicJWK(t, &K1.PublicKey, map[string]any{"kid": "k1", "alg": "RS256"}),
		publicJWK(t, &weak.PublicKey, map[string]any{"kid": "w1", "alg": "RS256"}),
	} {
		jk, err := jwk.ParseKey(mustJSON(t, k))
		if err != nil {
			t.Fatal(err)
		}
		_ = set.AddKey(jk)
	}
	ours := newIDP(t, mustJSON(t, map[string]any{"keys": []any{
		publicJWK(t, &K1.PublicKey, map[string]any{"kid": "k1", "alg": "RS256"}),
		publicJWK(t, &weak.PublicKey, map[string]any{"kid": "w1", "alg": "RS256"}),
	}}))
	c := e.J0()
	c.JWKSURLs = []string{ours.URL}
	c.TokenFrom = &token.From{QueryParameter: "t"} // lets JSON forms through extraction
	a := e.auth(t, c, nil)

	valid := tok(t, K1, H0(), unalignedClaims(t))
	p := strings.Split(valid, ".")
	h0 := jsonSeg(t, H0())
	rawSigned := func(claimsJSON string) string { return signSegs(t, "RS256", K1, h0, b64u([]byte(claimsJSON))) }
	tests := []struct {
		name, raw, want string
	}{
		{"exp as a numeric string", tok(t, K1, H0(), claims(map[string]any{"exp": "9999999999"})), ReasonClaimInvalid},
		{"exp as an RFC 3339 string", tok(t, K1, H0(), claims(map[string]any{"exp": "2999-01-01T00:00:00Z"})), ReasonClaimInvalid},
		{"no exp", tok(t, K1, H0(), claims(map[string]any{"exp": nil})), ReasonClaimMissing},
		{"any aud without an audience option", tok(t, K1, H0(), claims(map[string]any{"aud": "elsewhere"})), ReasonAudienceMismatch},
		{"b64 false over an encoded payload", tok(t, K1, hdr(map[string]any{"b64": false, "crit": []string{"b64"}}), C0()), ReasonUnsupported},
		{"signature with a non-canonical last character", p[0] + "." + p[1] + "." + sibling(t, p[2]), ReasonMalformed},
		{"padded signature", valid + "==", ReasonMalformed},
		{"JSON serialization", `{"payload":"` + p[1] + `","protected":"` + p[0] + `","signature":"` + p[2] + `"}`, ReasonMalformed},
		{"duplicate claim names, last sub wins in encoding/json", rawSigned(`{"sub":"alice","sub":"admin","iss":"https://idp.test","aud":"api://gw","exp":1800000300}`), ReasonMalformed},
		{"duplicate claim names hidden by an escape", rawSigned(`{"sub":"alice","s\u0075b":"admin","iss":"https://idp.test","aud":"api://gw","exp":1800000300}`), ReasonMalformed},
		{"duplicate header member", signSegs(t, "RS256", K1, b64u([]byte(`{"alg":"RS256","kid":"zz","kid":"k1"}`)), p[1]), ReasonMalformed},
		{"invalid UTF-8 in a claim", rawSigned("{\"sub\":\"al\xffice\",\"iss\":\"https://idp.test\",\"aud\":\"api://gw\",\"exp\":1800000300}"), ReasonMalformed},
		{"payload is a JSON array", rawSigned(`[1,2]`), ReasonMalformed},
		{"payload is null", rawSigned(`null`), ReasonMalformed},
		{"header is null", signSegs(t, "RS256", K1, b64u([]byte("null")), p[1]), ReasonMalformed},
		{"trailing data after the claims", rawSigned(`{"sub":"alice"} {}`), ReasonMalformed},
		{"exp out of float range", rawSigned(`{"sub":"alice","exp":1e400}`), ReasonMalformed},
		{"typ logout+jwt", tok(t, K1, hdr(map[string]any{"typ": "logout+jwt"}), C0()), ReasonUnsupported},
		{"RSA-1024 key", tok(t, weak, hdr(map[string]any{"kid": "w1"}), C0()), ReasonKeyNotFound},
		{"RSA signature one byte short", p[0] + "." + p[1] + "." + b64u(mustB64(t, p[2])[1:]), ReasonSignatureInvalid},
		{"20 KiB claim", tok(t, K1, H0(), claims(map[string]any{"pad": strings.Repeat("x", 20<<10)})), ReasonTooLarge},
		{"iat in the future", tok(t, K1, H0(), claims(map[string]any{"iat": NOW.Unix() + 3600, "nbf": nil})), ReasonIssuedInFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, jerr := jwxjwt.Parse([]byte(tt.raw), jwxjwt.WithKeySet(set), jwxjwt.WithValidate(true),
				jwxjwt.WithClock(jwxjwt.ClockFunc(func() time.Time { return NOW })))
			if jerr == nil {
				t.Logf("jwx v2 defaults: accepted")
			} else {
				t.Logf("jwx v2 defaults: rejected (%v)", jerr)
			}
			r := &pipeline.Request{Header: pipeline.Header{}, RawQuery: "t=" + url.QueryEscape(tt.raw)}
			s, err := run(a, r)
			checkOutcome(t, tt.want, s, err, tt.raw)
		})
	}
}

func mustB64(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// RFC 7518 §3.5: PS256 uses a salt as long as the hash. jwx verifies PSS
// with Go's auto salt length, so other salt lengths pass there.
func TestPSSSaltLengthIsTheHashSize(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	srv := newIDP(t, jwksDoc(publicJWK(t, &K1.PublicKey, map[string]any{"kid": "k1"})))
	c := e.J0()
	c.JWKSURLs = []string{srv.URL}
	c.AllowedAlgorithms = []string{"PS256"}
	a := e.auth(t, c, nil)
	h := jsonSeg(t, hdr(map[string]any{"alg": "PS256"}))
	p := jsonSeg(t, C0())
	pss := func(salt int) string {
		d := sha256.Sum256([]byte(h + "." + p))
		sig, err := rsa.SignPSS(rand.Reader, K1, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		return h + "." + p + "." + b64u(sig)
	}
	set := jwk.NewSet()
	jk, _ := jwk.FromRaw(&K1.PublicKey)
	_ = jk.Set(jwk.KeyIDKey, "k1")
	_ = set.AddKey(jk)
	tests := []struct {
		name, raw, want string
	}{
		{"salt equal to the hash size", pss(rsa.PSSSaltLengthEqualsHash), ""},
		{"empty salt", pss(0), ReasonSignatureInvalid},
		{"maximal salt", pss(rsa.PSSSaltLengthAuto), ReasonSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, jerr := jwxjwt.Parse([]byte(tt.raw), jwxjwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)),
				jwxjwt.WithClock(jwxjwt.ClockFunc(func() time.Time { return NOW })))
			t.Logf("jwx v2: err = %v", jerr)
			s, err := run(a, bearer(tt.raw))
			checkOutcome(t, tt.want, s, err, tt.raw)
		})
	}
}
