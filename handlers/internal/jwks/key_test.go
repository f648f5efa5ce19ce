package jwks

import (
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

func TestParseSetVetsKeys(t *testing.T) {
	sig := map[string]any{"use": "sig"}
	ecJWK := func(members map[string]any) json.RawMessage { return jwkOf(t, &ecKey.PublicKey, members) }
	offCurve := func() json.RawMessage {
		// Flip a bit of y: the point leaves the curve.
		var m map[string]any
		_ = json.Unmarshal(ecJWK(map[string]any{"kid": "bad"}), &m)
		y, _ := base64.RawURLEncoding.DecodeString(m["y"].(string))
		y[len(y)-1] ^= 1
		m["y"] = base64.RawURLEncoding.EncodeToString(y)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name    string
		key     json.RawMessage
		keep    bool
		wantErr string
	}{
		{"rsa 2048 with use sig is kept", jwkOf(t, &rsaKey.PublicKey, map[string]any{"kid": "k1", "use": "sig", "alg": "RS256"}), true, ""},
		{"rsa without use is kept", jwkOf(t, &rsaKey.PublicKey, map[string]any{"kid": "k1"}), true, ""},
		{"use enc is dropped", jwkOf(t, &rsaKey.PublicKey, map[string]any{"kid": "k1", "use": "enc"}), false, `use "enc"`},
		{"unknown use is dropped", jwkOf(t, &rsaKey.PublicKey, map[string]any{"kid": "k1", "use": "both"}), false, "is not sig"},
		{"key_ops without verify is dropped", jwkOf(t, &rsaKey.PublicKey, map[string]any{"key_ops": []string{"encrypt"}}), false, "key_ops"},
		{"key_ops with verify is kept", jwkOf(t, &rsaKey.PublicKey, map[string]any{"key_ops": []string{"verify"}}), true, ""},
		{"A-32 rsa 1024 is dropped", rsaJWK(t, bigOdd(1024), 65537, sig), false, "below 2048"},
		{"A-32 rsa 2047 is dropped", rsaJWK(t, bigOdd(2047), 65537, sig), false, "below 2048"},
		{"A-32 rsa 16384 is dropped", rsaJWK(t, bigOdd(16384), 65537, sig), false, "above 8192"},
		{"A-32 rsa exponent 1 is dropped", rsaJWK(t, bigOdd(2048), 1, sig), false, "exponent 1"},
		{"A-32 rsa exponent 3 is dropped", rsaJWK(t, bigOdd(2048), 3, sig), false, "exponent 3"},
		{"rsa even exponent is dropped", rsaJWK(t, bigOdd(2048), 65538, sig), false, "exponent 65538"},
		{"ec p-256 is kept", ecJWK(map[string]any{"kid": "e1", "alg": "ES256"}), true, ""},
		{"A-32 ec point off the curve is dropped", offCurve(), false, "not on P-256"},
		{"ec key with alg of another curve is dropped", ecJWK(map[string]any{"alg": "ES384"}), false, "does not fit"},
		{"ed25519 is kept", jwkOf(t, edPub, map[string]any{"kid": "ed"}), true, ""},
		{"x25519 is dropped", x25519JWK(t), false, "unsupported key type"},
		{"oct of 32 bytes is kept", jwkOf(t, make([]byte, 32), map[string]any{"alg": "HS256"}), true, ""},
		{"A-39 oct of 6 bytes is dropped", jwkOf(t, []byte("secret"), nil), false, "below 32"},
		{"oct with HS512 alg but 32 bytes is dropped", jwkOf(t, make([]byte, 32), map[string]any{"alg": "HS512"}), false, "does not fit"},
		{"alg none is dropped", jwkOf(t, &rsaKey.PublicKey, map[string]any{"alg": "none"}), false, "not a signature algorithm"},
		{"encryption alg is dropped", jwkOf(t, &rsaKey.PublicKey, map[string]any{"alg": "RSA-OAEP"}), false, "not a signature algorithm"},
		{"rsa key with ES256 alg is dropped", jwkOf(t, &rsaKey.PublicKey, map[string]any{"alg": "ES256"}), false, "does not fit"},
		{"unknown kty is dropped", json.RawMessage(`{"kty":"XYZ","kid":"x"}`), false, "parse key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := jwkOf(t, &rsaKey2.PublicKey, map[string]any{"kid": "good"})
			set, dropped, err := ParseSet(doc(tt.key, good))
			if err != nil {
				t.Fatalf("ParseSet: %v", err)
			}
			if set.Lookup("good") == nil {
				t.Fatal("a bad key must not take the good one down with it")
			}
			if tt.keep {
				if set.Len() != 2 || len(dropped) != 0 {
					t.Fatalf("kept %d keys, dropped %v; want the key kept", set.Len(), dropped)
				}
				return
			}
			if set.Len() != 1 || len(dropped) != 1 {
				t.Fatalf("kept %d keys, dropped %v; want it dropped", set.Len(), dropped)
			}
			if dropped[0].Index != 0 || !strings.Contains(dropped[0].Err.Error(), tt.wantErr) {
				t.Fatalf("dropped = %+v, want index 0 and %q", dropped[0], tt.wantErr)
			}
		})
	}
}

func TestParseSetDocument(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr string
		keys    int
	}{
		{"not json", "<html>", "decode jwks", 0},
		{"no keys array", `{"foo":[]}`, `no "keys"`, 0},
		{"keys not an array", `{"keys":{}}`, "decode jwks", 0},
		{"empty set is valid", `{"keys":[]}`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, _, err := ParseSet([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || set.Len() != tt.keys {
				t.Fatalf("set = %d keys, err = %v", set.Len(), err)
			}
		})
	}
	t.Run("keys beyond the cap are dropped", func(t *testing.T) {
		k := jwkOf(t, &ecKey.PublicKey, nil)
		keys := make([]json.RawMessage, MaxKeys+3)
		for i := range keys {
			keys[i] = k
		}
		set, dropped, err := ParseSet(doc(keys...))
		if err != nil || set.Len() != MaxKeys || len(dropped) != 3 {
			t.Fatalf("len = %d, dropped = %d, err = %v", set.Len(), len(dropped), err)
		}
	})
}

func TestOathkeeperFixturesLoad(t *testing.T) {
	tests := []struct {
		file string
		kids []string
		typ  jwa.KeyType
	}{
		{"jwks-rsa-single.json", []string{"81be3441-5303-4c52-b00d-bbdfadc75633"}, jwa.RSA},
		{"jwks-rsa-multiple.json", []string{"3e0edde4-12ad-425d-a783-135f46eac57e", "f4190122-ae96-4c29-8b79-56024e459d80"}, jwa.RSA},
		{"jwks-ecdsa.json", []string{"21d9eefe-34b6-42b3-b643-2b30e0ab59e0", "76a19c1b-5dbe-46cb-b3f3-a8c38c8bb8eb"}, jwa.EC},
		{"jwks-hs.json", []string{"64f48a05-7ea5-4aaf-80cf-f06b0033b477"}, jwa.OctetSeq},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			set, dropped, err := ParseSet(readFixture(t, tt.file))
			if err != nil || len(dropped) != 0 {
				t.Fatalf("err = %v, dropped = %v", err, dropped)
			}
			for _, kid := range tt.kids {
				ks := set.Lookup(kid)
				if len(ks) != 1 || ks[0].Type != tt.typ {
					t.Fatalf("kid %s: %v", kid, ks)
				}
				if _, private := ks[0].Public.(*rsa.PrivateKey); private {
					t.Fatalf("kid %s: private key kept", kid)
				}
			}
		})
	}
}

func TestFits(t *testing.T) {
	rsaK := &Key{Type: jwa.RSA, Size: 2048}
	rsaRS256 := &Key{Type: jwa.RSA, Alg: jwa.RS256}
	p256 := &Key{Type: jwa.EC, Curve: jwa.P256}
	ed := &Key{Type: jwa.OKP, Curve: jwa.Ed25519}
	oct32 := &Key{Type: jwa.OctetSeq, Size: 32}
	oct64 := &Key{Type: jwa.OctetSeq, Size: 64}
	tests := []struct {
		name string
		k    *Key
		alg  jwa.SignatureAlgorithm
		want bool
	}{
		{"rsa fits RS256", rsaK, jwa.RS256, true},
		{"rsa fits PS512", rsaK, jwa.PS512, true},
		{"A-02 rsa never fits HS256", rsaK, jwa.HS256, false},
		{"rsa key alg RS256 refuses PS256", rsaRS256, jwa.PS256, false},
		{"p-256 fits ES256", p256, jwa.ES256, true},
		{"p-256 refuses ES384", p256, jwa.ES384, false},
		{"ed25519 fits EdDSA", ed, jwa.EdDSA, true},
		{"ed25519 refuses ES256", ed, jwa.ES256, false},
		{"oct 32 fits HS256", oct32, jwa.HS256, true},
		{"oct 32 is too short for HS384", oct32, jwa.HS384, false},
		{"oct 64 fits HS512", oct64, jwa.HS512, true},
		{"oct never fits RS256", oct64, jwa.RS256, false},
		{"nothing fits none", rsaK, jwa.NoSignature, false},
	}
	if !oct32.Symmetric() || rsaK.Symmetric() {
		t.Fatal("Symmetric must be true for oct keys only")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.k.Fits(tt.alg); got != tt.want {
				t.Fatalf("Fits(%s) = %v, want %v", tt.alg, got, tt.want)
			}
		})
	}
}

func TestSetNilIsEmpty(t *testing.T) {
	var s *Set
	if s.Len() != 0 || s.Keys() != nil || s.Lookup("x") != nil {
		t.Fatal("nil set must behave as empty")
	}
	if !SignatureAlgorithm("RS256") || SignatureAlgorithm("none") || SignatureAlgorithm("RSA-OAEP") {
		t.Fatal("SignatureAlgorithm misclassifies")
	}
}
