package idtoken

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// RSA modulus bounds for loaded keys: RFC 7518 §3.3 requires 2048 bits, and
// a huge modulus makes every signature (and every verifier) slow.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// signer is the key that signs one source's tokens, ready for use: the
// request path only concatenates and signs.
type signer struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	key  crypto.Signer // raw private key
	sign jws.Signer
	// header is the base64url protected header {"alg","kid","typ"}.
	header string
	// sigLen is the signature size, to size the token buffer once.
	sigLen int
	// id identifies the key material for cache keys: a rotated key, or
	// the same kid with new material, never reuses a cached token (F-09).
	id string
}

// keySet is one loaded JWKS: the signer and the public keys to publish.
type keySet struct {
	signer *signer
	// public holds every key of the set as a public key with only kty,
	// its public members, kid, alg and use (SECURITY_CASES F-07).
	public []jwk.Key
}

// loadedKey is one usable entry of a set.
type loadedKey struct {
	kid        string
	alg        jwa.SignatureAlgorithm
	private    crypto.Signer // nil for a public entry
	public     crypto.PublicKey
	thumbprint string
}

// parseKeySet parses a JWKS and picks the signer with Oathkeeper's rules:
// the first private key signs; its kid is that of a public entry with the
// same key material if the set has one, else its own. Keys without a kid
// get their RFC 7638 thumbprint, so every published key has one. Symmetric
// keys are refused: what signs an id_token must be publishable.
func parseKeySet(data []byte) (*keySet, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	var keys []loadedKey
	for i := 0; i < set.Len(); i++ {
		k, _ := set.Key(i)
		lk, skip, err := loadKey(k)
		if err != nil {
			return nil, fmt.Errorf("keys[%d] (kid %q): %w", i, k.KeyID(), err)
		}
		if !skip {
			keys = append(keys, lk)
		}
	}
	first := -1
	for i := range keys {
		if keys[i].private != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, errors.New("jwks has no asymmetric private signing key")
	}
	ks := &keySet{}
	seen := map[string]string{} // kid → thumbprint
	for _, k := range keys {
		if tp, dup := seen[k.kid]; dup {
			if tp != k.thumbprint {
				return nil, fmt.Errorf("kid %q names two different keys", k.kid)
			}
			continue
		}
		seen[k.kid] = k.thumbprint
		pub, err := publicJWK(k)
		if err != nil {
			return nil, err
		}
		ks.public = append(ks.public, pub)
	}
	if ks.signer, err = newSigner(keys, first); err != nil {
		return nil, err
	}
	return ks, nil
}

// loadKey checks one entry. skip is true for encryption keys, which an
// id_token set has no use for and which are not published.
func loadKey(k jwk.Key) (lk loadedKey, skip bool, err error) {
	if k.KeyType() == jwa.OctetSeq {
		return lk, false, errors.New("symmetric (oct) keys cannot sign id tokens: a shared secret cannot be published for verification")
	}
	if k.KeyUsage() == string(jwk.ForEncryption) {
		return lk, true, nil
	}
	var raw any
	if err := k.Raw(&raw); err != nil {
		return lk, false, fmt.Errorf("decode key: %w", err)
	}
	lk.kid = k.KeyID()
	switch key := raw.(type) {
	case *rsa.PrivateKey:
		if err := key.Validate(); err != nil {
			return lk, false, errors.New("inconsistent RSA private key")
		}
		lk.private, lk.public = key, &key.PublicKey
	case *ecdsa.PrivateKey:
		lk.private, lk.public = key, &key.PublicKey
	case ed25519.PrivateKey:
		lk.private, lk.public = key, key.Public()
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		lk.public = key
	default:
		return lk, false, fmt.Errorf("key type %s cannot sign", k.KeyType())
	}
	if lk.alg, err = algorithmFor(lk.public, k.Algorithm().String()); err != nil {
		return lk, false, err
	}
	// The thumbprint comes from the public key the signer will actually
	// verify with, not from the entry's members, so the kid rule compares
	// real key material.
	pj, err := jwk.FromRaw(lk.public)
	if err != nil {
		return lk, false, fmt.Errorf("public key: %w", err)
	}
	tp, err := pj.Thumbprint(crypto.SHA256)
	if err != nil {
		return lk, false, fmt.Errorf("thumbprint: %w", err)
	}
	lk.thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	if lk.kid == "" {
		lk.kid = lk.thumbprint
	}
	return lk, false, nil
}

// algorithmFor checks the JWK alg against the key, or infers it when
// absent: RS256 for RSA, ES256/ES384/ES512 by curve, EdDSA for Ed25519.
func algorithmFor(pub crypto.PublicKey, alg string) (jwa.SignatureAlgorithm, error) {
	var allowed []jwa.SignatureAlgorithm
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return "", fmt.Errorf("RSA key of %d bits (want %d to %d)", bits, minRSABits, maxRSABits)
		}
		allowed = []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512}
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			allowed = []jwa.SignatureAlgorithm{jwa.ES256}
		case elliptic.P384():
			allowed = []jwa.SignatureAlgorithm{jwa.ES384}
		case elliptic.P521():
			allowed = []jwa.SignatureAlgorithm{jwa.ES512}
		default:
			return "", fmt.Errorf("unsupported curve %s", p.Curve.Params().Name)
		}
	case ed25519.PublicKey:
		allowed = []jwa.SignatureAlgorithm{jwa.EdDSA}
	}
	if alg == "" {
		return allowed[0], nil
	}
	for _, a := range allowed {
		if a.String() == alg {
			return a, nil
		}
	}
	return "", fmt.Errorf("alg %q does not fit the key (want one of %v)", alg, allowed)
}

// publicJWK builds the published form from the raw public key, so no
// member of the source entry (private parameters, "oth", unknown fields)
// can leak: only kty, the public members, kid, alg and use.
func publicJWK(k loadedKey) (jwk.Key, error) {
	pub, err := jwk.FromRaw(k.public)
	if err != nil {
		return nil, fmt.Errorf("kid %q: public key: %w", k.kid, err)
	}
	for name, v := range map[string]any{jwk.KeyIDKey: k.kid, jwk.AlgorithmKey: k.alg, jwk.KeyUsageKey: jwk.ForSignature} {
		if err := pub.Set(name, v); err != nil {
			return nil, fmt.Errorf("kid %q: set %s: %w", k.kid, name, err)
		}
	}
	return pub, nil
}

// newSigner prepares keys[first] with the kid rule and proves it works: a
// probe signature must verify with the published public key, so a set
// whose public members do not match its private key fails at load instead
// of minting tokens nobody can verify.
func newSigner(keys []loadedKey, first int) (*signer, error) {
	k := keys[first]
	kid := k.kid
	for _, p := range keys {
		if p.private == nil && p.thumbprint == k.thumbprint {
			kid = p.kid
			break
		}
	}
	sg, err := jws.NewSigner(k.alg)
	if err != nil {
		return nil, fmt.Errorf("kid %q: %w", kid, err)
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{k.alg.String(), kid, "JWT"})
	if err != nil {
		return nil, fmt.Errorf("kid %q: header: %w", kid, err)
	}
	s := &signer{
		kid:    kid,
		alg:    k.alg,
		key:    k.private,
		sign:   sg,
		header: base64.RawURLEncoding.EncodeToString(hdr),
		id:     kid + "|" + k.alg.String() + "|" + k.thumbprint,
	}
	probe := []byte("portcullis id_token key check")
	sig, err := sg.Sign(probe, k.private)
	if err != nil {
		return nil, fmt.Errorf("kid %q: sign: %w", kid, err)
	}
	v, err := jws.NewVerifier(k.alg)
	if err != nil {
		return nil, fmt.Errorf("kid %q: %w", kid, err)
	}
	if err := v.Verify(probe, sig, k.public); err != nil {
		return nil, fmt.Errorf("kid %q: private key does not match its public key", kid)
	}
	s.sigLen = len(sig)
	return s, nil
}
