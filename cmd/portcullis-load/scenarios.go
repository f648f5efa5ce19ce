package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Files compare writes to its temporary directory before it starts the
// servers; the Portcullis child reads them from there.
const (
	rulesFile       = "rules.yaml"
	authnJWKSFile   = "jwks.json"     // RS256 public key of the jwt authenticator
	signingJWKSFile = "id_token.json" // ES256 private key of the id_token mutator
)

// maxRules bounds the rules-N scenarios.
const maxRules = 1_000_000

// scenario is one named comparison: the rules Portcullis serves and the
// request the load generator sends.
type scenario struct {
	Name  string
	About string
	// writeRules writes the rules YAML; dir holds the key files.
	writeRules func(w io.Writer, dir string) error
	path       string
	// jwt: send a bearer token signed by the key in dir.
	jwt bool
	// http: call the HTTP decision API, and compare with a no-op HTTP/1.1
	// server, instead of gRPC Check and a no-op ext_authz server.
	http bool
}

// scenarioConfig enables every handler the scenarios use, at the default
// log level; everything else is Portcullis's default.
const scenarioConfig = `
log: {level: info}
authenticators: {anonymous: {enabled: true}, jwt: {enabled: true}}
authorizers: {allow: {enabled: true}}
mutators: {header: {enabled: true}, id_token: {enabled: true}}
`

// writeAnonymousRules writes n rules that differ only in id and path, each
// anonymous → allow → header. Their variable scheme keeps them out of any
// host or prefix shortcut a matcher may take, so the scenario measures
// rule selection at its worst.
func writeAnonymousRules(w io.Writer, n int) error {
	bw := bufio.NewWriter(w)
	for i := range n {
		fmt.Fprintf(bw, `- id: r%05d
  match: {url: "<http|https>://demo/svc-%05d/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: header, config: {headers: {X-User: "{{ print .Subject }}"}}}]
`, i, i)
	}
	return bw.Flush()
}

// rulesScenario is rules-n: n anonymous rules, of which the one in the
// middle (index n/2) matches.
func rulesScenario(n int) scenario {
	return scenario{
		Name:  "rules-" + strconv.Itoa(n),
		About: fmt.Sprintf("anonymous → allow → header, %s rules, rule %s matches", thousands(n), thousands(n/2+1)),
		path:  fmt.Sprintf("/svc-%05d/x", n/2),
		writeRules: func(w io.Writer, _ string) error {
			return writeAnonymousRules(w, n)
		},
	}
}

// jwtRule is the common production rule: JWT from a cached key set →
// allow → mutators.
func jwtRule(dir, mutators string) string {
	return `- id: orders
  match: {url: "<http|https>://demo/orders/<[0-9]+>", methods: [GET]}
  authenticators:
    - handler: jwt
      config: {jwks_urls: ["file://` + filepath.Join(dir, authnJWKSFile) + `"], trusted_issuers: [https://idp.test], target_audience: [api://gw]}
  authorizer: {handler: allow}
  mutators:
` + mutators
}

const headerMutator = `    - handler: header
      config: {headers: {X-User: "{{ print .Subject }}", X-Tenant: "{{ print .Extra.tenant }}"}}
`

func writeString(s func(dir string) string) func(io.Writer, string) error {
	return func(w io.Writer, dir string) error {
		_, err := io.WriteString(w, s(dir))
		return err
	}
}

// scenarios are the named comparisons, in the order the help lists them.
var scenarios = []scenario{
	{Name: "anonymous", About: "anonymous → allow → header {{ print .Subject }}", path: "/svc-00000/x",
		writeRules: func(w io.Writer, _ string) error { return writeAnonymousRules(w, 1) }},
	{Name: "jwt", About: "jwt (RS256, cached, JWKS file) → allow → header {{ print .Extra.tenant }}", path: "/orders/42", jwt: true,
		writeRules: writeString(func(dir string) string { return jwtRule(dir, headerMutator) })},
	{Name: "id-token", About: "jwt (RS256, cached, JWKS file) → allow → id_token (ES256, cached, claims template)", path: "/orders/42", jwt: true,
		writeRules: writeString(func(dir string) string {
			return jwtRule(dir, `    - handler: id_token
      config:
        issuer_url: https://gw.test
        jwks_url: "file://`+filepath.Join(dir, signingJWKSFile)+`"
        ttl: 1h
        claims: '{"aud": ["api://orders"], "tenant": "{{ print .Extra.tenant }}"}'
        cache: {enabled: true}
`)
		})},
	rulesScenario(10),
	rulesScenario(1000),
	rulesScenario(100_000),
	{Name: "http-api", About: "HTTP decision API: jwt (RS256, cached) → allow → header {{ print .Extra.tenant }}", path: "/orders/42", jwt: true, http: true,
		writeRules: writeString(func(dir string) string { return jwtRule(dir, headerMutator) })},
}

// findScenario returns the named scenario; rules-N is accepted for any N
// from 1 to maxRules.
func findScenario(name string) (scenario, error) {
	var names []string
	for _, s := range scenarios {
		if s.Name == name {
			return s, nil
		}
		names = append(names, s.Name)
	}
	if s, ok := strings.CutPrefix(name, "rules-"); ok {
		if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= maxRules {
			return rulesScenario(n), nil
		}
	}
	return scenario{}, fmt.Errorf("scenario %q: want one of %s (or rules-N, N up to %s)", name, strings.Join(names, ", "), thousands(maxRules))
}

// prepare writes sc's rules, and for a jwt scenario its key sets, to dir.
// It returns the bearer token to send ("" without jwt).
func prepare(sc scenario, dir string) (token string, err error) {
	if sc.jwt {
		if token, err = writeKeys(dir); err != nil {
			return "", err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, rulesFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	err = sc.writeRules(f, dir)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write the %s rules: %w", sc.Name, err)
	}
	return token, nil
}

// writeKeys writes the jwt authenticator's RS256 JWKS and the id_token
// mutator's ES256 signing set to dir, and returns a token the first
// verifies, valid for a day, with a tenant claim.
func writeKeys(dir string) (string, error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	key, err := newJWK(rsaKey, "k1", jwa.RS256)
	if err != nil {
		return "", err
	}
	pub, err := key.PublicKey()
	if err != nil {
		return "", err
	}
	if err := writeJWKS(filepath.Join(dir, authnJWKSFile), pub); err != nil {
		return "", err
	}
	if err := writeSigningKey(filepath.Join(dir, signingJWKSFile)); err != nil {
		return "", err
	}
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer("https://idp.test").Audience([]string{"api://gw"}).Subject("alice").
		Claim("tenant", "acme").IssuedAt(now).Expiration(now.Add(24 * time.Hour)).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	return string(signed), err
}

// writeSigningKey writes a JWKS holding one fresh P-256 private key for
// ES256 to path.
func writeSigningKey(path string) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	k, err := newJWK(priv, "gw1", jwa.ES256)
	if err != nil {
		return err
	}
	return writeJWKS(path, k)
}

// newJWK wraps raw as a signing key with the given kid and alg.
func newJWK(raw any, kid string, alg jwa.SignatureAlgorithm) (jwk.Key, error) {
	k, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, err
	}
	for name, v := range map[string]any{jwk.KeyIDKey: kid, jwk.AlgorithmKey: alg, jwk.KeyUsageKey: "sig"} {
		if err := k.Set(name, v); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// writeJWKS writes a JWKS holding k to path.
func writeJWKS(path string, k jwk.Key) error {
	set := jwk.NewSet()
	if err := set.AddKey(k); err != nil {
		return err
	}
	data, err := json.Marshal(set)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// thousands formats n with commas: 100000 → "100,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
