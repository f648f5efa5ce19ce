package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Limits applied to keys when a set is loaded.
const (
	// MinRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
	MinRSABits = 2048
	// MaxRSABits caps RSA keys so a hostile JWKS cannot make every
	// verification expensive.
	MaxRSABits = 8192
	// MinHMACBytes is the smallest HMAC secret accepted (RFC 7518 §3.2 for
	// HS256; HS384 and HS512 need 48 and 64 bytes, checked in Fits).
	MinHMACBytes = 32
	// MaxKeys caps the number of keys kept from one set.
	MaxKeys = 256
)

// Key is one vetted verification key. It is immutable once loaded and is
// shared by every request that uses it.
type Key struct {
	// KID is the key id ("" when the JWK has none).
	KID string
	// Alg is the JWK's alg member, "" when absent. When set it is the only
	// algorithm the key verifies.
	Alg jwa.SignatureAlgorithm
	// Type is the key type (RSA, EC, OKP or oct).
	Type jwa.KeyType
	// Curve is the named curve of EC and OKP keys.
	Curve jwa.EllipticCurveAlgorithm
	// Public is *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or, for
	// oct keys, the []byte secret. Callers must not modify it.
	Public any
	// Size is the RSA modulus size in bits, or the secret size in bytes for
	// oct keys.
	Size int
}

// Symmetric reports whether the key is an HMAC secret.
func (k *Key) Symmetric() bool { return k.Type == jwa.OctetSeq }

// Fits reports whether the key can verify a signature made with alg: the
// key type and curve must match the algorithm, the key's own alg (if any)
// must equal alg, and HMAC secrets must be at least as long as the hash.
func (k *Key) Fits(alg jwa.SignatureAlgorithm) bool {
	if k.Alg != "" && k.Alg != alg {
		return false
	}
	switch alg {
	case jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512:
		return k.Type == jwa.RSA
	case jwa.ES256:
		return k.Type == jwa.EC && k.Curve == jwa.P256
	case jwa.ES384:
		return k.Type == jwa.EC && k.Curve == jwa.P384
	case jwa.ES512:
		return k.Type == jwa.EC && k.Curve == jwa.P521
	case jwa.EdDSA:
		return k.Type == jwa.OKP && k.Curve == jwa.Ed25519
	case jwa.HS256:
		return k.Type == jwa.OctetSeq && k.Size >= 32
	case jwa.HS384:
		return k.Type == jwa.OctetSeq && k.Size >= 48
	case jwa.HS512:
		return k.Type == jwa.OctetSeq && k.Size >= 64
	}
	return false
}

// Set is one loaded key set. It is immutable and replaced as a whole on
// refresh; a refresh that returns identical content keeps the same *Set, so
// callers may compare pointers to learn whether the keys changed.
type Set struct {
	keys  []*Key
	byKID map[string][]*Key
	sum   [sha256.Size]byte
}

// Keys returns every key in document order. The slice must not be modified.
func (s *Set) Keys() []*Key {
	if s == nil {
		return nil
	}
	return s.keys
}

// Lookup returns the keys whose kid equals kid exactly. kid is only ever a
// map key: never a path, URL or query.
func (s *Set) Lookup(kid string) []*Key {
	if s == nil {
		return nil
	}
	return s.byKID[kid]
}

// Len returns the number of keys.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// Rejection explains why a JWK was dropped. It names the key by position
// and kid only, never by its material.
type Rejection struct {
	// Index is the position of the key in the document's keys array.
	Index int
	// KID is the key's kid, if it could be parsed.
	KID string
	// Err is the reason.
	Err error
}

// ParseSet parses a JWKS document and vets every key. Bad keys are dropped
// one by one and reported; the error is non-nil only when the document
// itself is not a JWKS.
func ParseSet(doc []byte) (*Set, []Rejection, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, nil, fmt.Errorf("decode jwks: %w", err)
	}
	if raw.Keys == nil {
		return nil, nil, errors.New(`decode jwks: no "keys" array`)
	}
	s := &Set{byKID: make(map[string][]*Key, len(raw.Keys)), sum: sha256.Sum256(doc)}
	var dropped []Rejection
	for i, rk := range raw.Keys {
		k, kid, err := vet(rk)
		if err != nil {
			dropped = append(dropped, Rejection{Index: i, KID: kid, Err: err})
			continue
		}
		if len(s.keys) == MaxKeys {
			dropped = append(dropped, Rejection{Index: i, KID: kid, Err: fmt.Errorf("more than %d keys", MaxKeys)})
			continue
		}
		s.keys = append(s.keys, k)
		s.byKID[k.KID] = append(s.byKID[k.KID], k)
	}
	return s, dropped, nil
}

// vet parses one JWK and applies the load-time policy.
func vet(raw json.RawMessage) (*Key, string, error) {
	jk, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, "", fmt.Errorf("parse key: %w", err)
	}
	kid := jk.KeyID()
	switch use := jk.KeyUsage(); use {
	case "", "sig":
	default:
		return nil, kid, fmt.Errorf("use %q is not sig", use)
	}
	if ops := jk.KeyOps(); len(ops) > 0 && !slices.Contains(ops, jwk.KeyOpVerify) {
		return nil, kid, errors.New("key_ops does not allow verify")
	}
	k := &Key{KID: kid, Type: jk.KeyType()}
	if a := jk.Algorithm(); a != nil && a.String() != "" {
		sa := jwa.SignatureAlgorithm(a.String())
		if !signatureAlgs[sa] {
			return nil, kid, fmt.Errorf("alg %q is not a signature algorithm", a.String())
		}
		k.Alg = sa
	}
	if k.Type != jwa.OctetSeq {
		// Private members are never needed to verify; drop them.
		if jk, err = jk.PublicKey(); err != nil {
			return nil, kid, fmt.Errorf("public key: %w", err)
		}
	}
	var rawKey any
	if err := jk.Raw(&rawKey); err != nil {
		return nil, kid, fmt.Errorf("raw key: %w", err)
	}
	if err := k.setPublic(rawKey); err != nil {
		return nil, kid, err
	}
	if k.Alg != "" && !k.Fits(k.Alg) {
		return nil, kid, fmt.Errorf("alg %q does not fit a %s key", k.Alg, k.Type)
	}
	return k, kid, nil
}

// setPublic checks the raw key against the policy and stores it.
func (k *Key) setPublic(raw any) error {
	switch pk := raw.(type) {
	case *rsa.PublicKey:
		bits := pk.N.BitLen()
		switch {
		case bits < MinRSABits:
			return fmt.Errorf("rsa key of %d bits is below %d", bits, MinRSABits)
		case bits > MaxRSABits:
			return fmt.Errorf("rsa key of %d bits is above %d", bits, MaxRSABits)
		case pk.E < 65537 || pk.E%2 == 0:
			return fmt.Errorf("rsa exponent %d is weak", pk.E)
		}
		k.Size = bits
	case *ecdsa.PublicKey:
		crv, ok := curves[pk.Curve]
		if !ok {
			return errors.New("unsupported elliptic curve")
		}
		// ECDH validates that the point is on the curve and not the point
		// at infinity, which jwx does not check when parsing.
		if _, err := pk.ECDH(); err != nil {
			return fmt.Errorf("ec point is not on %s", crv)
		}
		k.Curve = crv
	case ed25519.PublicKey:
		if len(pk) != ed25519.PublicKeySize {
			return errors.New("ed25519 key has the wrong size")
		}
		k.Curve = jwa.Ed25519
	case []byte:
		if len(pk) < MinHMACBytes {
			return fmt.Errorf("hmac secret of %d bytes is below %d", len(pk), MinHMACBytes)
		}
		k.Size = len(pk)
	default:
		return fmt.Errorf("unsupported key type %s", k.Type)
	}
	k.Public = raw
	return nil
}

var curves = map[elliptic.Curve]jwa.EllipticCurveAlgorithm{
	elliptic.P256(): jwa.P256,
	elliptic.P384(): jwa.P384,
	elliptic.P521(): jwa.P521,
}

// signatureAlgs are the JWS algorithms a key may name. "none" and the
// encryption algorithms are not among them.
var signatureAlgs = map[jwa.SignatureAlgorithm]bool{
	jwa.RS256: true, jwa.RS384: true, jwa.RS512: true,
	jwa.PS256: true, jwa.PS384: true, jwa.PS512: true,
	jwa.ES256: true, jwa.ES384: true, jwa.ES512: true,
	jwa.EdDSA: true,
	jwa.HS256: true, jwa.HS384: true, jwa.HS512: true,
}

// SignatureAlgorithm reports whether name is a JWS algorithm this package
// can verify ("none" is not).
func SignatureAlgorithm(name string) bool { return signatureAlgs[jwa.SignatureAlgorithm(name)] }
