package jwt_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis-authz/portcullis/handlers/authn/jwt"
	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// fuzzKeySets are Oathkeeper's test-stub key sets: each holds the private
// key the seeds are signed with. The authenticator loads them from
// file:// URLs, exactly as a rule would.
var fuzzKeySets = []string{"jwks-rsa-single.json", "jwks-ecdsa.json", "jwks-hs.json"}

const fuzzIssuer = "https://idp.test"

// fuzzKeys are the raw keys of fuzzKeySets: *rsa.PrivateKey,
// *ecdsa.PrivateKey, *ecdsa.PublicKey or []byte (HMAC secret).
type fuzzKeys struct {
	rsa  []*rsa.PrivateKey
	ec   []*ecdsa.PublicKey
	ecd  []*ecdsa.PrivateKey
	hmac [][]byte
	kids map[any]string
}

// FuzzAuthenticate runs fuzzed bearer tokens through the jwt
// authenticator of a rule that trusts a fixed RSA, EC and HMAC key set.
// It never panics; it answers with success, ErrSkip, or a 401 (503 only
// for unloadable keys) whose message does not repeat the token; and it
// never accepts a token that is not signed by one of the keys under its
// header's alg, or whose issuer is not the trusted one (checked here with
// the standard library, independently of jwx).
func FuzzAuthenticate(f *testing.F) {
	keys := loadFuzzKeys(f)
	valid, attacks := seedTokens(f, keys)
	for _, tok := range append(valid, attacks...) {
		f.Add(tok)
	}
	cache := jwks.New(jwks.Options{})
	f.Cleanup(func() { _ = cache.Close() })
	c := jwt.Config{
		AllowedAlgorithms: []string{"RS256", "ES256", "HS256"},
		TrustedIssuers:    []string{fuzzIssuer},
		// No exp: the seeds must verify on any day.
		RequiredClaims: []string{},
	}
	for _, name := range fuzzKeySets {
		c.JWKSURLs = append(c.JWKSURLs, "file://./testdata/"+name)
	}
	h, err := jwt.New(c, cache, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = h.(interface{ Close() error }).Close() })
	// The oracle is only worth something if acceptance is reachable.
	for _, tok := range valid {
		r := &pipeline.Request{Header: pipeline.Header{"authorization": {"Bearer " + tok}}}
		if err := h.Authenticate(context.Background(), r, &pipeline.Session{}); err != nil {
			f.Fatalf("valid seed %q: %v", tok, err)
		}
	}

	f.Fuzz(func(t *testing.T, tok string) {
		r := &pipeline.Request{Header: pipeline.Header{"authorization": {"Bearer " + tok}}}
		s := &pipeline.Session{}
		err := h.Authenticate(context.Background(), r, s)
		switch {
		case err == nil:
			if !keys.signed(tok) {
				t.Fatalf("accepted %q, which no key of the set signed", tok)
			}
			if iss := payloadClaim(tok, "iss"); iss != fuzzIssuer {
				t.Fatalf("accepted %q with issuer %v", tok, iss)
			}
			if sub, ok := payloadClaim(tok, "sub").(string); ok && s.Subject != sub {
				t.Fatalf("accepted %q: subject %q, sub claim %q", tok, s.Subject, sub)
			}
		case errors.Is(err, pipeline.ErrSkip):
		default:
			var pe *pipeline.Error
			if !errors.As(err, &pe) || pe.Status != 401 && pe.ID != jwt.ReasonJWKSUnavailable {
				t.Fatalf("Authenticate(%q) = %v: want a 401 *pipeline.Error", tok, err)
			}
			if len(tok) >= 16 && strings.Contains(err.Error(), tok) {
				t.Fatalf("error %q repeats the token", err)
			}
		}
	})
}

// signed is the oracle: tok has three parts and a signature over the
// first two that one key verifies under the header's alg.
func (k *fuzzKeys) signed(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	input := []byte(parts[0] + "." + parts[1])
	digest := sha256.Sum256(input)
	switch hdr.Alg {
	case "RS256":
		for _, key := range k.rsa {
			if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig) == nil {
				return true
			}
		}
	case "ES256":
		if len(sig) != 64 {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		for _, key := range k.ec {
			if ecdsa.Verify(key, digest[:], r, s) {
				return true
			}
		}
	case "HS256":
		for _, secret := range k.hmac {
			m := hmac.New(sha256.New, secret)
			m.Write(input)
			if hmac.Equal(m.Sum(nil), sig) {
				return true
			}
		}
	}
	return false
}

// payloadClaim returns a claim of tok's payload, nil if it has none.
func payloadClaim(tok, name string) any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var claims map[string]any
	_ = json.Unmarshal(b, &claims)
	return claims[name]
}

func loadFuzzKeys(tb testing.TB) *fuzzKeys {
	tb.Helper()
	k := &fuzzKeys{kids: map[any]string{}}
	for _, name := range fuzzKeySets {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			tb.Fatal(err)
		}
		set, err := jwk.Parse(b)
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		for i := 0; i < set.Len(); i++ {
			key, _ := set.Key(i)
			var raw any
			if err := key.Raw(&raw); err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			switch raw := raw.(type) {
			case *rsa.PrivateKey:
				k.rsa = append(k.rsa, raw)
				k.kids[raw] = key.KeyID()
			case *ecdsa.PrivateKey:
				k.ecd = append(k.ecd, raw)
				k.ec = append(k.ec, &raw.PublicKey)
				k.kids[raw] = key.KeyID()
			case *ecdsa.PublicKey:
				k.ec = append(k.ec, raw)
			case []byte:
				k.hmac = append(k.hmac, raw)
				k.kids[string(raw)] = key.KeyID()
			}
		}
	}
	if len(k.rsa) == 0 || len(k.ecd) == 0 || len(k.hmac) == 0 {
		tb.Fatal("the fixture key sets lost their private keys")
	}
	return k
}

// seedTokens signs valid tokens with every private key, and derives the
// classic attacks from them: alg none, HS256 keyed with the RSA public
// key, a stripped or re-encoded signature, a swapped payload.
func seedTokens(tb testing.TB, k *fuzzKeys) (valid, attacks []string) {
	tb.Helper()
	seg := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	claims := seg(map[string]any{"iss": fuzzIssuer, "sub": "alice", "aud": "api://gw", "scp": []string{"read"}})
	sign := func(alg, kid string, key any, payload string) string {
		h := map[string]any{"alg": alg, "typ": "JWT"}
		if kid != "" {
			h["kid"] = kid
		}
		input := seg(h) + "." + payload
		digest := sha256.Sum256([]byte(input))
		var sig []byte
		switch key := key.(type) {
		case *rsa.PrivateKey:
			sig, _ = rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
		case *ecdsa.PrivateKey:
			r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
			if err != nil {
				tb.Fatal(err)
			}
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		case []byte:
			m := hmac.New(sha256.New, key)
			m.Write([]byte(input))
			sig = m.Sum(nil)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	rsaKey, ecKey, secret := k.rsa[0], k.ecd[0], k.hmac[0]
	valid = []string{
		sign("RS256", k.kids[rsaKey], rsaKey, claims),
		sign("ES256", k.kids[ecKey], ecKey, claims),
		sign("HS256", k.kids[string(secret)], secret, claims),
		sign("RS256", "", rsaKey, claims),
	}
	pub := rsaKey.PublicKey.N.Bytes()
	attacks = []string{
		sign("HS256", k.kids[rsaKey], pub, claims), // RS/HS confusion
		seg(map[string]any{"alg": "none"}) + "." + claims + ".",
		strings.TrimRight(valid[0], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
		valid[0] + "=",
		strings.Replace(valid[2], claims, seg(map[string]any{"iss": fuzzIssuer, "sub": "admin"}), 1),
		sign("RS256", k.kids[rsaKey], rsaKey, seg(map[string]any{"iss": "https://evil.test", "sub": "alice"})),
		sign("RS256", k.kids[rsaKey], rsaKey, seg(map[string]any{"iss": fuzzIssuer, "sub": "alice", "iss ": "x"})),
		`{"protected":"e30","payload":"e30","signature":"e30"}`,
		"opaque-token-for-another-authenticator",
	}
	return valid, attacks
}
