package idtoken

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// MaxClaimsBytes caps the rendered claims. The token travels in a request
// header, and Envoy's default limit for all headers together is 60 KiB; a
// larger token fails the request instead of being cut later
// (SECURITY_CASES C-15).
const MaxClaimsBytes = 8 << 10

// Mutator mints a signed JWT for the upstream and sets it as a header.
type Mutator struct {
	signers *Signers
	src     *source // strong reference: keeps the key set registered
	claims  *tmpl.JSON
	issuer  string
	ttl     time.Duration
	header  string // lower-case, so SetHeader does not allocate
	prefix  string // "Bearer " for Authorization, else ""
	cache   bool
	// keyPrefix holds the config inputs of the cache key, length-prefixed
	// so no two configs can produce the same byte string.
	keyPrefix []byte
}

// New validates c, compiles the claims template and loads (or shares) the
// key set at jwks_url through signers. A key set that cannot be fetched
// yet does not fail the rule (see Signers); one without an asymmetric
// private key is an error: the rule does not load.
func New(c Config, signers *Signers) (pipeline.Mutator, error) {
	if signers == nil {
		return nil, errors.New("id_token: no Signers registry")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Mutator{
		signers: signers,
		issuer:  c.IssuerURL,
		ttl:     c.TTL.Std(),
		header:  strings.ToLower(c.Header),
		cache:   c.Cache.enabled(),
	}
	if m.header == "authorization" {
		m.prefix = "Bearer "
	}
	if c.Claims != "" {
		t, err := tmpl.ParseJSON("claims", c.Claims)
		if err != nil {
			return nil, fmt.Errorf("claims: %w", err)
		}
		m.claims = t
	}
	loc, err := parseJWKSURL(c.JWKSURL) // checked by Validate
	if err != nil {
		return nil, fmt.Errorf("jwks_url: %w", err)
	}
	src, err := signers.source(loc)
	if err != nil {
		return nil, fmt.Errorf("jwks_url: %w", err)
	}
	m.src = src
	for _, f := range []string{c.IssuerURL, m.ttl.String(), loc.raw, m.header, m.prefix} {
		m.keyPrefix = appendField(m.keyPrefix, f)
	}
	return m, nil
}

// Mutate renders the claims, then serves a cached token minted from the
// same inputs with the same key or mints a new one, and sets the header,
// replacing any value set before (the front door overwrites the client's
// copy). Errors fail the request closed:
//   - 503 id_token_keys_unavailable: the key set could not be fetched
//     since the rule was loaded (Run keeps retrying);
//   - 503 id_token_signer_unavailable: the key set has failed to refresh
//     for longer than Options.MaxStale;
//   - 500 id_token_claims_template / id_token_claims_invalid: the
//     template failed, or did not render to one JSON object within
//     MaxClaimsBytes;
//   - 500 id_token_template_output_invalid: a value changed the
//     structure the template writes (a claim added, duplicated or
//     swallowed by a value that broke out of its quotes, see tmpl.JSON),
//     so a client cannot add a claim through .Subject or .Extra;
//   - 500 id_token_sign_failed: the signature could not be made.
func (m *Mutator) Mutate(_ context.Context, _ *pipeline.Request, s *pipeline.Session) error {
	now := m.signers.now()
	st := m.src.state.Load()
	if st.keys == nil {
		return pipeline.Unavailable("id_token_keys_unavailable", "id_token signing keys have not loaded yet", st.lastErr)
	}
	if !st.usable(now, m.signers.maxStale) {
		return pipeline.Unavailable("id_token_signer_unavailable", "id_token signing keys are unavailable", st.lastErr)
	}
	sg := st.keys.signer
	var rendered []byte
	if m.claims != nil {
		out, err := m.claims.Execute(s)
		switch {
		case errors.Is(err, tmpl.ErrOutputStructure):
			return pipeline.Internal("id_token_template_output_invalid",
				"id_token claims template rendered claims that the template does not write", err)
		case errors.Is(err, tmpl.ErrOutputNotJSON):
			return pipeline.Internal("id_token_claims_invalid", "id_token claims did not render to a JSON object", err)
		case err != nil:
			return pipeline.Internal("id_token_claims_template", "id_token claims template failed", err)
		}
		if len(out) > MaxClaimsBytes {
			return pipeline.Internal("id_token_claims_invalid",
				fmt.Sprintf("id_token claims render to %d bytes, limit %d", len(out), MaxClaimsBytes), nil)
		}
		rendered = out
	}
	var v string
	var err error
	if m.cache {
		v, err = m.cached(sg, rendered, s.Subject, now)
	} else {
		v, _, err = m.mint(sg, rendered, s.Subject, now)
	}
	if err != nil {
		return err
	}
	s.SetHeader(m.header, v)
	return nil
}

// cached returns the token cached for these inputs, or mints and caches
// one.
func (m *Mutator) cached(sg *signer, rendered []byte, subject string, now time.Time) (string, error) {
	bp := keyBufPool.Get().(*[]byte)
	k := m.signers.cache.key(m.appendKey((*bp)[:0], sg, rendered, subject))
	defer func() {
		if cap(k.mat) <= 64<<10 { // let a rare large key go rather than pin it
			*bp = k.mat
			keyBufPool.Put(bp)
		}
	}()
	if v, ok := m.signers.cache.get(&k, now); ok {
		return v, nil
	}
	v, exp, err := m.mint(sg, rendered, subject, now)
	if err != nil {
		return "", err
	}
	m.signers.cache.put(&k, v, reuseUntil(now, m.ttl, exp), now)
	return v, nil
}

// reuseUntil is when a token minted at now stops being served from the
// cache: once 90% of the ttl has elapsed (Oathkeeper's rule), and never at
// or after exp, which is truncated to whole seconds.
func reuseUntil(now time.Time, ttl time.Duration, exp int64) time.Time {
	until := now.Add(ttl * 9 / 10)
	if e := time.Unix(exp, 0); until.After(e) {
		return e
	}
	return until
}

var keyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendKey appends the cache key material to b: everything that shapes
// the token (SECURITY_CASES F-09), each field length-prefixed so that no
// two inputs give the same bytes. That is the config (issuer, ttl,
// jwks_url, header), the signing key's kid, alg and thumbprint, the
// rendered claims (aud and every template input that reaches the token)
// and the subject.
func (m *Mutator) appendKey(b []byte, sg *signer, rendered []byte, subject string) []byte {
	b = append(b, m.keyPrefix...)
	b = appendField(b, sg.id)
	b = appendField(b, rendered)
	return appendField(b, subject)
}

// appendField appends s to b, prefixed with its length.
func appendField[T string | []byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

var _ pipeline.Mutator = (*Mutator)(nil)
