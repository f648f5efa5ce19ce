package jwt

import (
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// algVerifier is an allowed algorithm with its jwx verifier, resolved at
// construction time.
type algVerifier struct {
	name string
	alg  jwa.SignatureAlgorithm
	v    jws.Verifier
}

// checkHeader applies the header policy after decoding.
func (a *Authenticator) checkHeader(h *header) (*algVerifier, error) {
	// RFC 7515 §4.1.11: a recipient must reject crit it does not
	// understand, and Portcullis understands none. b64 (RFC 7797) changes
	// what is signed; refuse it in any form.
	if h.Crit != nil || h.B64 != nil {
		return nil, errCrit.err()
	}
	if h.Cty != nil && (strings.EqualFold(*h.Cty, "JWT") || strings.EqualFold(*h.Cty, "application/jwt")) {
		return nil, errNested.err()
	}
	if h.Typ != nil && !accessTokenTyp(*h.Typ) {
		return nil, errTyp.err()
	}
	for i := range a.algs {
		if a.algs[i].name == h.Alg {
			return &a.algs[i], nil
		}
	}
	return nil, errAlg.err() // A-01 (none is never in the list), A-04
}

// accessTokenTyp reports whether a typ header may belong to an access
// token. Absent, JWT, at+jwt (RFC 9068) and unknown values pass; other
// explicit JWT profiles (logout+jwt, secevent+jwt, dpop+jwt, ...) and
// JSON serialization are refused, so that a token minted for another
// purpose by the same issuer cannot be replayed here (RFC 8725 §3.11).
func accessTokenTyp(typ string) bool {
	t := strings.ToLower(typ)
	t = strings.TrimPrefix(t, "application/")
	switch {
	case t == "jwt", t == "at+jwt", t == "jose", t == "":
		return true
	case t == "jose+json", strings.HasSuffix(t, "+jwt"):
		return false
	}
	return true
}

// MaxCandidateKeys bounds the signature checks one token costs. A token
// with a kid is checked against every key of that kid that fits its alg,
// across all of the rule's jwks_urls; when more than MaxCandidateKeys keys
// fit, it is refused (401 jwt_key_ambiguous) before any check, so a key
// set with many keys under one kid cannot make each request verify
// hundreds of signatures. A token without a kid needs exactly one fitting
// key (more are ambiguous), so it costs at most one check.
const MaxCandidateKeys = 4

// candidate is a key that may have signed the token, and where it is.
type candidate struct {
	key *jwks.Key
	src *jwks.Source
	set *jwks.Set
}

// findKeys returns the keys that fit kid and alg, fetching (rate-limited)
// when no key fits and waiting at most jwks_max_wait for sets that are not
// loaded. A kid is only ever a map key.
func (a *Authenticator) findKeys(ctx context.Context, h *header, alg jwa.SignatureAlgorithm) ([]candidate, error) {
	missing := false
	for _, s := range a.srcs {
		if s.Current() == nil {
			missing = true
			break
		}
	}
	if missing {
		a.keys.Await(ctx, a.srcs, a.maxWait)
	}
	cands, st := a.search(h, alg)
	if st == searchNone && a.keys.Refetch(ctx, a.srcs, a.maxWait) {
		cands, st = a.search(h, alg)
	}
	switch st {
	case searchFound:
		return cands, nil
	case searchUnavailable:
		return nil, a.unavailable()
	case searchAmbiguous:
		return nil, errKeyAmbiguous.err()
	case searchTooMany:
		return nil, errTooManyKeys.err()
	}
	return nil, errNoKey.err()
}

// searchResult classifies a key search.
type searchResult int

const (
	searchNone        searchResult = iota // no key fits
	searchFound                           // candidates to try
	searchAmbiguous                       // no kid and several keys fit
	searchUnavailable                     // a set that may hold the key is not loaded
	searchTooMany                         // more than MaxCandidateKeys keys fit the kid
)

// search looks through the current sets. With a kid, every key of that
// kid that fits alg is a candidate (at most MaxCandidateKeys of them), and
// an unloaded set matters only when no loaded one has the kid. Without a
// kid exactly one key must fit across all sets, which can only be known
// when every set is loaded.
func (a *Authenticator) search(h *header, alg jwa.SignatureAlgorithm) ([]candidate, searchResult) {
	hasKID := h.KID != nil && *h.KID != ""
	var cands []candidate
	unavailable := false
	for _, s := range a.srcs {
		set := s.Current()
		if set == nil {
			unavailable = true
			continue
		}
		keys := set.Keys()
		if hasKID {
			keys = set.Lookup(*h.KID)
		}
		for _, k := range keys {
			if !k.Fits(alg) {
				continue
			}
			if hasKID && len(cands) == MaxCandidateKeys {
				return nil, searchTooMany
			}
			cands = append(cands, candidate{key: k, src: s, set: set})
		}
	}
	switch {
	case unavailable && (!hasKID || len(cands) == 0):
		return nil, searchUnavailable
	case len(cands) == 0:
		return nil, searchNone
	case !hasKID && len(cands) > 1:
		return nil, searchAmbiguous
	}
	return cands, searchFound
}

// unavailable builds the 503 for sets that could not be loaded, with the
// first fetch error (URLs are redacted by jwks) as the cause.
func (a *Authenticator) unavailable() error {
	e := errJWKSNoKeysYet.err().(*pipeline.Error)
	for _, s := range a.srcs {
		if err := s.Err(); err != nil {
			e.Err = err
			break
		}
	}
	return e
}

// pssVerifier verifies RSASSA-PSS with the salt length RFC 7518 §3.5
// prescribes (the hash size). jwx passes no options to rsa.VerifyPSS, which
// then accepts any salt length.
type pssVerifier struct{ hash crypto.Hash }

// Verify implements jws.Verifier.
func (v pssVerifier) Verify(payload, sig []byte, key any) error {
	pk, ok := key.(*rsa.PublicKey)
	if !ok {
		return errors.New("pss: not an rsa public key")
	}
	h := v.hash.New()
	h.Write(payload)
	return rsa.VerifyPSS(pk, v.hash, h.Sum(nil), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: v.hash})
}

// newVerifier returns the verifier of an allowed algorithm.
func newVerifier(alg jwa.SignatureAlgorithm) (jws.Verifier, error) {
	switch alg {
	case jwa.PS256:
		return pssVerifier{crypto.SHA256}, nil
	case jwa.PS384:
		return pssVerifier{crypto.SHA384}, nil
	case jwa.PS512:
		return pssVerifier{crypto.SHA512}, nil
	}
	return jws.NewVerifier(alg)
}

// verifySignature tries the candidates in order and returns the one that
// verifies.
func verifySignature(c *compact, av *algVerifier, cands []candidate) (candidate, bool) {
	input := []byte(c.signingInput)
	for _, cd := range cands {
		if av.v.Verify(input, c.sig, cd.key.Public) == nil {
			return cd, true
		}
	}
	return candidate{}, false
}
