package jwks

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"os"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"go.uber.org/goleak"
)

// Test keys, generated once per run with crypto/rand.
var (
	rsaKey  *rsa.PrivateKey
	rsaKey2 *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
	edPub   ed25519.PublicKey
)

func TestMain(m *testing.M) {
	var err error
	if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if rsaKey2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if edPub, _, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m)
}

// jwkOf renders raw as a JWK with the given extra members.
func jwkOf(t testing.TB, raw any, members map[string]any) json.RawMessage {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatalf("jwk.FromRaw: %v", err)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return withMembers(t, b, members)
}

// withMembers sets (or, for nil values, deletes) members of a JSON object.
func withMembers(t testing.TB, obj json.RawMessage, members map[string]any) json.RawMessage {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range members {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func doc(keys ...json.RawMessage) []byte {
	if keys == nil {
		keys = []json.RawMessage{}
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// rsaJWK builds an RSA public JWK from a modulus and exponent without a
// real key, for sizes that would take too long to generate.
func rsaJWK(t testing.TB, n *big.Int, e int, members map[string]any) json.RawMessage {
	t.Helper()
	return jwkOf(t, &rsa.PublicKey{N: n, E: e}, members)
}

// bigOdd returns a random odd integer of exactly bits bits.
func bigOdd(bits int) *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	return n
}

// x25519JWK is an OKP key on X25519, a key-agreement curve.
func x25519JWK(t testing.TB) json.RawMessage {
	t.Helper()
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x := base64.RawURLEncoding.EncodeToString(k.PublicKey().Bytes())
	return json.RawMessage(`{"kty":"OKP","crv":"X25519","x":"` + x + `"}`)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
