package idtoken

import (
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

func TestParseKeySetPicksSignerWithOathkeeperRules(t *testing.T) {
	a, b := newECKey(t, elliptic.P256()), newEdKey(t)
	tests := []struct {
		name     string
		doc      []byte
		wantKID  string
		wantAlg  jwa.SignatureAlgorithm
		wantPubs []string
	}{
		{"first private key signs", jwksJSON(t, jwkOf(t, a, "kid", "a"), jwkOf(t, b, "kid", "b")), "a", jwa.ES256, []string{"a", "b"}},
		{"public entry before the private one lends its kid",
			jwksJSON(t, jwkOf(t, &a.PublicKey, "kid", "pub-a"), jwkOf(t, a, "kid", "priv-a")), "pub-a", jwa.ES256, []string{"pub-a", "priv-a"}},
		{"public entry after the private one lends its kid",
			jwksJSON(t, jwkOf(t, a, "kid", "priv-a"), jwkOf(t, &a.PublicKey, "kid", "pub-a")), "pub-a", jwa.ES256, []string{"priv-a", "pub-a"}},
		{"public entry of another key does not",
			jwksJSON(t, jwkOf(t, b.Public(), "kid", "pub-b"), jwkOf(t, a, "kid", "priv-a")), "priv-a", jwa.ES256, []string{"pub-b", "priv-a"}},
		{"same kid for public and private entry is published once",
			jwksJSON(t, jwkOf(t, &a.PublicKey, "kid", "a"), jwkOf(t, a, "kid", "a")), "a", jwa.ES256, []string{"a"}},
		{"encryption keys are ignored",
			jwksJSON(t, jwkOf(t, newECKey(t, elliptic.P256()), "kid", "enc", "use", "enc"), jwkOf(t, b, "kid", "b")), "b", jwa.EdDSA, []string{"b"}},
		{"P-521 signs ES512", jwksJSON(t, jwkOf(t, newECKey(t, elliptic.P521()), "kid", "p521")), "p521", jwa.ES512, []string{"p521"}},
		{"RS512 from the JWK alg", jwksJSON(t, jwkOf(t, testRSAKey(t), "kid", "r", "alg", "RS512")), "r", jwa.RS512, []string{"r"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := parseKeySet(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			if ks.signer.kid != tt.wantKID || ks.signer.alg != tt.wantAlg {
				t.Errorf("signer kid=%s alg=%s, want %s %s", ks.signer.kid, ks.signer.alg, tt.wantKID, tt.wantAlg)
			}
			var pubs []string
			for _, k := range ks.public {
				pubs = append(pubs, k.KeyID())
			}
			if fmt.Sprint(pubs) != fmt.Sprint(tt.wantPubs) {
				t.Errorf("published %v, want %v", pubs, tt.wantPubs)
			}
		})
	}
}

func TestParseKeySetRefusesUnsafeKeys(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	a, b := newECKey(t, elliptic.P256()), newECKey(t, elliptic.P256())
	hs, err := os.ReadFile("testdata/jwks-hs.json")
	if err != nil {
		t.Fatal(err)
	}
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	x25519 := fmt.Sprintf(`{"keys":[{"kty":"OKP","crv":"X25519","kid":"x","x":%q,"d":%q}]}`, b64(x.PublicKey().Bytes()), b64(x.Bytes()))
	// A private key whose public members belong to another key.
	mixed := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"m","x":%q,"y":%q,"d":%q}]}`,
		b64(b.X.FillBytes(make([]byte, 32))), b64(b.Y.FillBytes(make([]byte, 32))), b64(a.D.FillBytes(make([]byte, 32))))
	bad := *testRSAKey(t)
	bad.D = new(big.Int).Add(bad.D, big.NewInt(2))
	badRSA, err := json.Marshal(map[string]any{"keys": []any{jwkOf(t, &bad, "kid", "bad")}})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct{ name, doc, want string }{
		{"symmetric HS256 key (oathkeeper jwks-hs)", string(hs), "symmetric (oct) keys cannot sign id tokens"},
		{"RSA below 2048 bits", string(jwksJSON(t, jwkOf(t, weak, "kid", "w"))), "RSA key of 1024 bits"},
		{"alg of another key type", string(jwksJSON(t, jwkOf(t, a, "kid", "a", "alg", "RS256"))), `alg "RS256" does not fit the key`},
		{"encryption alg", string(jwksJSON(t, jwkOf(t, testRSAKey(t), "kid", "r", "alg", "RSA-OAEP"))), `alg "RSA-OAEP" does not fit the key`},
		{"alg none", string(jwksJSON(t, jwkOf(t, a, "kid", "a", "alg", "none"))), `alg "none" does not fit the key`},
		{"X25519 cannot sign", x25519, "cannot sign"},
		{"EC private key with foreign public members", mixed, "kid \"m\""},
		{"inconsistent RSA private key", string(badRSA), "inconsistent RSA private key"},
		{"one kid for two keys", string(jwksJSON(t, jwkOf(t, a, "kid", "k"), jwkOf(t, b, "kid", "k"))), `kid "k" names two different keys`},
		{"public keys only", string(jwksJSON(t, jwkOf(t, &a.PublicKey, "kid", "a"))), "no asymmetric private signing key"},
		{"empty set", `{"keys":[]}`, "no asymmetric private signing key"},
		{"not JSON", `{"keys":`, "parse jwks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKeySet([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			for _, secret := range []string{b64(a.D.Bytes()), b64(x.Bytes())} {
				if strings.Contains(err.Error(), secret) {
					t.Fatal("error leaks private key material")
				}
			}
		})
	}
}
