package authz_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
)

// TestSecurityJWTLimits: at the gRPC front door, numeric dates outside
// [0, year 9999] are invalid, a key set with many keys under one kid is
// refused before any signature check, and the Authorization header is
// parsed by Oathkeeper's rule (scheme up to the first space, credential
// untrimmed).
func TestSecurityJWTLimits(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	// 1000 ES256 keys under kid "many"; the token is signed by the first.
	keys := make([]map[string]any, 1000)
	var first *ecdsa.PrivateKey
	for i := range keys {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = k
		}
		keys[i] = secJWK(t, &k.PublicKey, map[string]any{"kid": "many", "alg": "ES256", "use": "sig"})
	}
	many := newSecJWKSServer(t, secJWKS(t, keys...))
	w := e.world(t, secWorldOpts{rules: secRulesBase + `
- id: R-many
  match: {url: "https://api.test/many/<.*>", methods: [GET]}
  authenticators: [{handler: jwt, config: {jwks_urls: ["` + many.URL + `/jwks.json"]}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`})
	check := func(path string, headers map[string]string) secResult {
		t.Helper()
		return w.check(t, secCheck("GET", secHost, path, headers))
	}
	// loaded sends a request until its rule's key set has loaded: a request
	// waits for the first fetch only jwks_max_wait (1s), and parsing 1000
	// keys under -race on a loaded machine may take longer. The fetch goes
	// on in the background and each retry joins it, so this ends as soon
	// as it is done; the attempt bound only stops a fetch that never will.
	loaded := func(path string, headers map[string]string) secResult {
		t.Helper()
		for range 1000 {
			if r := check(path, headers); r.reason() != "jwks_unavailable" {
				return r
			}
		}
		t.Fatalf("%s: the key set never loaded", path)
		return secResult{}
	}
	valid := secToken(t, nil, nil)
	secAllow(t, loaded("/admin/secrets", secBearer(valid)), "R-adm")

	t.Run("numeric dates out of range", func(t *testing.T) {
		for name, claims := range map[string]map[string]any{
			"exp 1e300":              {"exp": 1e300},
			"exp -1":                 {"exp": -1},
			"exp beyond year 9999":   {"exp": 253402300800},
			"exp a string":           {"exp": "string"},
			"exp beyond float64":     {"exp": json.RawMessage("1e400")},
			"nbf -1":                 {"nbf": -1},
			"iat far in the future":  {"iat": 1e15},
			"iat before the epoch":   {"iat": -86400},
			"all three out of range": {"iat": -1, "nbf": -1, "exp": 1e300},
		} {
			t.Run(name, func(t *testing.T) {
				r := check("/admin/secrets", secBearer(secToken(t, nil, claims)))
				secDeny(t, r, 401)
			})
		}
	})

	t.Run("many keys under one kid", func(t *testing.T) {
		tok := secJWT(t, "ES256", first, map[string]any{"alg": "ES256", "kid": "many"}, secC0())
		r := loaded("/many/x", secBearer(tok))
		secDeny(t, r, 401)
		if r.reason() != "jwt_key_ambiguous" {
			t.Fatalf("reason = %q, want jwt_key_ambiguous: %v", r.reason(), r)
		}
	})

	t.Run("authorization parsing", func(t *testing.T) {
		tests := []struct {
			name, header string
			allow        bool
		}{
			{"one space", "Bearer " + valid, true},
			{"scheme in lower case", "bearer " + valid, true},
			{"two spaces", "Bearer  " + valid, false},
			{"trailing space", "Bearer " + valid + " ", false},
			{"tab separator", "Bearer\t" + valid, false},
			{"two tokens", "Bearer " + valid + " " + valid, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := check("/admin/secrets", map[string]string{"authorization": tt.header})
				if tt.allow {
					secAllow(t, r, "R-adm")
					return
				}
				secDeny(t, r, 401)
			})
		}
	})
}
