package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// NumericDates outside [0, MaxNumericDate] are invalid claims, whatever
// the claim, so a token cannot claim to live forever (exp 1e300), to be
// valid since before 1970, or carry a date no time.Time can hold.
func TestNumericDateRange(t *testing.T) {
	n := NOW.Unix()
	signed := func(changes map[string]any) func(testing.TB, *env, *Config) string {
		return func(tb testing.TB, _ *env, _ *Config) string { return tok(tb, K1, H0(), claims(changes)) }
	}
	runCases(t, []secCase{
		{"exp at the last second of year 9999", signed(map[string]any{"exp": MaxNumericDate}), ""},
		{"exp one second later", signed(map[string]any{"exp": MaxNumericDate + 1}), ReasonClaimInvalid},
		{"exp half a second later", signed(map[string]any{"exp": MaxNumericDate + 0.5}), ReasonClaimInvalid},
		{"exp 1e300", signed(map[string]any{"exp": 1e300}), ReasonClaimInvalid},
		{"exp -1", signed(map[string]any{"exp": -1}), ReasonClaimInvalid},
		{"exp beyond float64", signed(map[string]any{"exp": json.RawMessage("1e400")}), ReasonMalformed},
		{"exp as a string", signed(map[string]any{"exp": "string"}), ReasonClaimInvalid},
		{"nbf -1", signed(map[string]any{"nbf": -1}), ReasonClaimInvalid},
		{"nbf 1e300", signed(map[string]any{"nbf": 1e300}), ReasonClaimInvalid},
		{"nbf 0 is the epoch, a valid date", signed(map[string]any{"nbf": 0}), ""},
		{"iat -1", signed(map[string]any{"iat": -1}), ReasonClaimInvalid},
		{"iat beyond year 9999", signed(map[string]any{"iat": 1e12}), ReasonClaimInvalid},
		{"iat ten years ahead is in range but in the future", signed(map[string]any{"iat": n + 10*365*86400}), ReasonIssuedInFuture},
	})
}

// countingVerifier counts signature checks.
type countingVerifier struct {
	jws.Verifier
	n *atomic.Int64
}

func (v countingVerifier) Verify(payload, sig []byte, key any) error {
	v.n.Add(1)
	return v.Verifier.Verify(payload, sig, key)
}

// countChecks makes a count every signature check it performs.
func countChecks(a *Authenticator) *atomic.Int64 {
	n := new(atomic.Int64)
	for i := range a.algs {
		a.algs[i].v = countingVerifier{Verifier: a.algs[i].v, n: n}
	}
	return n
}

// A key set with many keys under one kid (or many keys without a kid)
// costs a bounded number of signature checks per token: at most
// MaxCandidateKeys, and none when more keys fit than that.
func TestManyKeysUnderOneKIDCostBoundedChecks(t *testing.T) {
	fixtureKeys(t)
	keys := make([]*ecdsa.PrivateKey, 1000)
	for i := range keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// set publishes the first n keys, with kid "many" or without a kid.
	set := func(n int, withKID bool) []byte {
		jwks := make([]map[string]any, n)
		for i := range jwks {
			m := map[string]any{"alg": "ES256"}
			if withKID {
				m["kid"] = "many"
			}
			jwks[i] = publicJWK(t, &keys[i].PublicKey, m)
		}
		return jwksDoc(jwks...)
	}
	es := func(kid any) map[string]any { return hdr(map[string]any{"alg": "ES256", "kid": kid}) }
	many := set(1000, true)

	e := newEnv(t, envOptions())
	tests := []struct {
		name       string
		sets       [][]byte // one jwks_url each
		signer     *ecdsa.PrivateKey
		hdr        map[string]any
		want       string
		wantChecks int64
	}{
		{"1000 keys under the token's kid", [][]byte{many}, attacker, es("many"), ReasonKeyAmbiguous, 0},
		{"1000 keys under the kid, signed by the first", [][]byte{many}, keys[0], es("many"), ReasonKeyAmbiguous, 0},
		{"1000 keys without kid, token without kid", [][]byte{set(1000, false)}, attacker, es(nil), ReasonKeyAmbiguous, 0},
		{"the kid spread over two urls beyond the bound", [][]byte{set(MaxCandidateKeys, true), set(1, true)}, attacker, es("many"), ReasonKeyAmbiguous, 0},
		{"keys at the bound, forged token", [][]byte{set(MaxCandidateKeys, true)}, attacker, es("many"), ReasonSignatureInvalid, MaxCandidateKeys},
		{"keys at the bound, signed by the last", [][]byte{set(MaxCandidateKeys, true)}, keys[MaxCandidateKeys-1], es("many"), "", MaxCandidateKeys},
		{"one key without kid", [][]byte{set(1, false)}, keys[0], es(nil), "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.J0()
			c.JWKSURLs = nil
			for i, body := range tt.sets {
				c.JWKSURLs = append(c.JWKSURLs, newIDP(t, body).URL+"/jwks-"+strconv.Itoa(i))
			}
			a := e.auth(t, c, nil)
			checks := countChecks(a)
			raw := tok(t, tt.signer, tt.hdr, C0())
			s, err := run(a, bearer(raw))
			checkOutcome(t, tt.want, s, err, raw)
			if got := checks.Load(); got != tt.wantChecks {
				t.Fatalf("%d signature checks, want %d", got, tt.wantChecks)
			}
		})
	}
}

// The Authorization header is parsed by the one rule of package token:
// scheme up to the first space, the rest untrimmed. Blanks around the
// token therefore make it malformed, and a tab is no separator at all.
func TestAuthorizationRule(t *testing.T) {
	e := newEnv(t, envOptions())
	a := e.auth(t, e.J0(), NewTokenCache(TokenCacheOptions{}))
	raw := tok(t, K1, H0(), C0())
	tests := []struct {
		name, header, want string
	}{
		{"one space", "Bearer " + raw, ""},
		{"scheme in lower case", "bearer " + raw, ""},
		{"scheme in upper case", "BEARER " + raw, ""},
		{"two spaces", "Bearer  " + raw, ReasonMalformed},
		{"trailing space", "Bearer " + raw + " ", ReasonMalformed},
		{"trailing tab", "Bearer " + raw + "\t", ReasonMalformed},
		{"two tokens", "Bearer " + raw + " " + raw, ReasonMalformed},
		{"tab separator is not a bearer credential", "Bearer\t" + raw, "skip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second pass may hit the token cache
				s, err := run(a, &pipeline.Request{Header: pipeline.Header{"authorization": {tt.header}}})
				checkOutcome(t, tt.want, s, err, raw)
			}
		})
	}
}
