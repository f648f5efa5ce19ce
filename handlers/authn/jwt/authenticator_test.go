package jwt

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/handlers/internal/token"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestNotResponsibleWithoutAJWT(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	a := e.auth(t, e.J0(), nil)
	tests := []struct {
		name string
		r    *pipeline.Request
	}{
		{"no authorization header", &pipeline.Request{Header: pipeline.Header{}}},
		{"basic credentials", &pipeline.Request{Header: pipeline.Header{"authorization": {"Basic dXNlcjpwdw=="}}}},
		{"opaque token without dots", bearer("ory_at_abcdef0123456789")},
		{"opaque token with one dot", bearer("abc.def")},
		{"opaque token with four parts", bearer("a.b.c.d")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := run(a, tt.r); !errors.Is(err, pipeline.ErrSkip) {
				t.Fatalf("want ErrSkip, got %v", err)
			}
		})
	}
	t.Run("a JWS header with two parts is malformed, not opaque", func(t *testing.T) {
		_, err := run(a, bearer(jsonSeg(t, H0())+"."+jsonSeg(t, C0())))
		checkOutcome(t, ReasonMalformed, &pipeline.Session{}, err, "")
	})
}

func TestSessionCarriesSubjectAndNormalisedClaims(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	a := e.auth(t, e.J0(), NewTokenCache(TokenCacheOptions{}))
	raw := tok(t, K1, H0(), claims(map[string]any{"scope": "read write", "obj": map[string]any{"a": "b"}}))
	s, err := run(a, bearer(raw))
	if err != nil {
		t.Fatal(err)
	}
	if s.Subject != "alice" {
		t.Fatalf("Subject = %q", s.Subject)
	}
	if diff := cmp.Diff([]string{"read", "write"}, s.Extra["scp"]); diff != "" {
		t.Fatalf("scp (-want +got):\n%s", diff)
	}
	if _, ok := s.Extra["scope"]; ok {
		t.Fatal("scope must be moved to scp")
	}
	if s.Extra["iss"] != "https://idp.test" || s.Extra["exp"] != float64(NOW.Unix()+300) {
		t.Fatalf("claims not copied: %v", s.Extra)
	}
	// A handler that writes to Extra must not change what the next
	// request gets from the cache.
	s.Extra["sub"] = "mallory"
	delete(s.Extra, "iss")
	s2, err := run(a, bearer(raw))
	if err != nil || s2.Extra["sub"] != "alice" || s2.Extra["iss"] != "https://idp.test" {
		t.Fatalf("cached claims were modified through a session: %v %v", s2.Extra, err)
	}
}

func TestScopeStrategies(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	tests := []struct {
		name     string
		strategy string
		required []string
		granted  any
		want     string
	}{
		{"exact grants", "exact", []string{"photos.read"}, "photos.read other", ""},
		{"exact misses", "exact", []string{"photos.read"}, "photos", ReasonScopeMissing},
		{"hierarchic parent grants child", "hierarchic", []string{"photos.read"}, []string{"photos"}, ""},
		{"hierarchic child does not grant parent", "hierarchic", []string{"photos"}, []string{"photos.read"}, ReasonScopeMissing},
		{"wildcard grants", "wildcard", []string{"photos.read", "videos.x"}, "photos.* videos.*", ""},
		{"wildcard misses one of two", "wildcard", []string{"photos.read", "music.x"}, "photos.*", ReasonScopeMissing},
		{"no scope claim", "exact", []string{"a"}, nil, ReasonScopeMissing},
		{"scp claim array", "exact", []string{"a"}, []string{"a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.J0()
			c.ScopeStrategy, c.RequiredScope = tt.strategy, tt.required
			a := e.auth(t, c, nil)
			key := "scope"
			if _, ok := tt.granted.([]string); ok {
				key = "scp"
			}
			raw := tok(t, K1, H0(), claims(map[string]any{key: tt.granted}))
			s, err := run(a, bearer(raw))
			checkOutcome(t, tt.want, s, err, raw)
		})
	}
}

func TestTrustedIssuersAnyOf(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	c := e.J0()
	c.JWKSURLs = append(c.JWKSURLs, e.idp2.URL)
	c.TrustedIssuers = []string{"https://idp.test", "https://idp2.test"}
	a := e.auth(t, c, nil)
	tests := []struct {
		name, want string
		raw        string
	}{
		{"first issuer", "", tok(t, K1, H0(), C0())},
		{"second issuer with a key from the second jwks", "", tok(t, K2, hdr(map[string]any{"kid": "k2"}), claims(map[string]any{"iss": "https://idp2.test"}))},
		{"issuer missing", ReasonIssuerUntrusted, tok(t, K1, H0(), claims(map[string]any{"iss": nil}))},
		{"issuer not a string", ReasonIssuerUntrusted, tok(t, K1, H0(), claims(map[string]any{"iss": 1}))},
		{"issuer with a trailing slash", ReasonIssuerUntrusted, tok(t, K1, H0(), claims(map[string]any{"iss": "https://idp.test/"}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := run(a, bearer(tt.raw))
			checkOutcome(t, tt.want, s, err, tt.raw)
		})
	}
}

func TestKidlessTokensVerifyWhenExactlyOneKeyFits(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	one := newIDP(t, jwksDoc(publicJWK(t, &K1.PublicKey, nil)))
	two := newIDP(t, jwksDoc(publicJWK(t, &K1.PublicKey, nil), publicJWK(t, &K2.PublicKey, nil)))
	noKID := hdr(map[string]any{"kid": nil})
	tests := []struct {
		name string
		urls []string
		raw  string
		want string
	}{
		{"one key without use or kid", []string{one.URL}, tok(t, K1, noKID, C0()), ""},
		{"an empty kid is no kid", []string{one.URL}, tok(t, K1, hdr(map[string]any{"kid": ""}), C0()), ""},
		{"RSA and EC keys, RS256 fits only one", []string{e.idp.URL}, tok(t, K1, noKID, C0()), ""},
		{"ES256 without kid fits only E1", []string{e.idp.URL}, tok(t, E1, map[string]any{"alg": "ES256"}, C0()), ""},
		{"two RSA keys are ambiguous", []string{two.URL}, tok(t, K1, noKID, C0()), ReasonKeyAmbiguous},
		{"keys across two jwks are ambiguous", []string{one.URL, e.idp2.URL}, tok(t, K1, noKID, C0()), ReasonKeyAmbiguous},
		{"the one fitting key did not sign", []string{one.URL}, tok(t, KA, noKID, C0()), ReasonSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.J0()
			c.JWKSURLs = tt.urls
			a := e.auth(t, c, nil)
			s, err := run(a, bearer(tt.raw))
			checkOutcome(t, tt.want, s, err, tt.raw)
		})
	}
}

func TestEdDSAVerifies(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	srv := newIDP(t, jwksDoc(publicJWK(t, ED.Public(), map[string]any{"kid": "ed1"})))
	c := e.J0()
	c.JWKSURLs = []string{srv.URL}
	c.AllowedAlgorithms = []string{"EdDSA"}
	a := e.auth(t, c, nil)
	raw := tok(t, ED, map[string]any{"alg": "EdDSA", "kid": "ed1"}, C0())
	s, err := run(a, bearer(raw))
	checkOutcome(t, "", s, err, raw)
	forged := tok(t, KA, map[string]any{"alg": "RS256", "kid": "ed1"}, C0())
	_, err = run(a, bearer(forged))
	checkOutcome(t, ReasonAlgorithmNotAllowed, &pipeline.Session{}, err, forged)
}

// The JWKS fixtures of Oathkeeper's test stubs load from file:// URLs and
// verify tokens signed with their private entries, as in its own tests.
func TestOathkeeperFixtureJWKS(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	tests := []struct {
		file, alg, signKID, headerKID string
	}{
		{"jwks-rsa-single.json", "RS256", "81be3441-5303-4c52-b00d-bbdfadc75633", "81be3441-5303-4c52-b00d-bbdfadc75633"},
		{"jwks-rsa-multiple.json", "RS256", "f4190122-ae96-4c29-8b79-56024e459d80", "3e0edde4-12ad-425d-a783-135f46eac57e"},
		{"jwks-ecdsa.json", "ES256", "76a19c1b-5dbe-46cb-b3f3-a8c38c8bb8eb", "21d9eefe-34b6-42b3-b643-2b30e0ab59e0"},
		{"jwks-hs.json", "HS256", "64f48a05-7ea5-4aaf-80cf-f06b0033b477", "64f48a05-7ea5-4aaf-80cf-f06b0033b477"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			set, err := jwk.Parse(doc)
			if err != nil {
				t.Fatal(err)
			}
			k, ok := set.LookupKeyID(tt.signKID)
			if !ok {
				t.Fatalf("fixture has no kid %s", tt.signKID)
			}
			var priv any
			if err := k.Raw(&priv); err != nil {
				t.Fatal(err)
			}
			c := e.J0()
			c.JWKSURLs = []string{"file://./testdata/" + tt.file}
			c.AllowedAlgorithms = []string{tt.alg}
			a := e.auth(t, c, nil)
			raw := tok(t, priv, map[string]any{"alg": tt.alg, "kid": tt.headerKID}, C0())
			s, err := run(a, bearer(raw))
			checkOutcome(t, "", s, err, raw)
		})
	}
}

func TestTokenFromLocations(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	raw := tok(t, K1, H0(), C0())
	tests := []struct {
		name string
		from *token.From
		r    *pipeline.Request
		want string
	}{
		{"custom header", &token.From{Header: "X-Token"}, &pipeline.Request{Header: pipeline.Header{"x-token": {raw}}}, ""},
		{"custom header ignores authorization", &token.From{Header: "X-Token"}, bearer(raw), "skip"},
		{"query parameter", &token.From{QueryParameter: "jwt"}, &pipeline.Request{Header: pipeline.Header{}, RawQuery: "jwt=" + raw}, ""},
		{"cookie", &token.From{Cookie: "jwt"}, &pipeline.Request{Header: pipeline.Header{"cookie": {"a=b; jwt=" + raw}}}, ""},
		{"ambiguous authorization (C-07)", nil, &pipeline.Request{Header: pipeline.Header{"authorization": {"Bearer " + raw + ",Bearer junk"}}}, token.ReasonAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.J0()
			c.TokenFrom = tt.from
			a := e.auth(t, c, nil)
			s, err := run(a, tt.r)
			checkOutcome(t, tt.want, s, err, raw)
		})
	}
}
