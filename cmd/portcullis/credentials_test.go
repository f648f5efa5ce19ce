package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/portcullis-authz/portcullis/handlers/mutate/idtoken"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// privateMembers are the JWK members that must never be published.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"}

// TestGeneratedCredentialsSignAndVerify generates a key set for each
// algorithm, loads the private set into a real id_token mutator, mints a
// token and verifies it with the public half alone.
func TestGeneratedCredentialsSignAndVerify(t *testing.T) {
	tests := []struct {
		name, alg, kid string
		extra          []string
		wantKty        string
	}{
		{name: "ES256 with a kid", alg: "ES256", kid: "2026-12", wantKty: "EC"},
		{name: "ES384", alg: "ES384", wantKty: "EC"},
		{name: "ES512", alg: "ES512", wantKty: "EC"},
		{name: "EdDSA, kid from the thumbprint", alg: "EdDSA", wantKty: "OKP"},
		// 2048 bits keeps the test fast; the default is 3072.
		{name: "RS256", alg: "RS256", kid: "rsa-1", extra: []string{"--bits", "2048"}, wantKty: "RSA"},
		{name: "PS512", alg: "PS512", extra: []string{"--bits", "2048"}, wantKty: "RSA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			privPath, pubPath := filepath.Join(dir, "jwks.json"), filepath.Join(dir, "public.json")
			args := append([]string{"credentials", "generate", "--alg", tt.alg, "--output", privPath, "--public", pubPath}, tt.extra...)
			if tt.kid != "" {
				args = append(args, "--kid", tt.kid)
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("with --output nothing goes to stdout, got %q", stdout.String())
			}
			if st, err := os.Stat(privPath); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("private set: %v mode %v, want 0600", err, st.Mode().Perm())
			}

			// The public half: one key, no private member, kid/alg/use set.
			pubRaw, err := os.ReadFile(pubPath)
			if err != nil {
				t.Fatal(err)
			}
			var pubDoc struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(pubRaw, &pubDoc); err != nil || len(pubDoc.Keys) != 1 {
				t.Fatalf("public set %s: %v", pubRaw, err)
			}
			pk := pubDoc.Keys[0]
			for _, m := range privateMembers {
				if _, ok := pk[m]; ok {
					t.Errorf("public set carries private member %q", m)
				}
			}
			kid, _ := pk["kid"].(string)
			if pk["kty"] != tt.wantKty || pk["alg"] != tt.alg || pk["use"] != "sig" || kid == "" || (tt.kid != "" && kid != tt.kid) {
				t.Errorf("public key %v", pk)
			}

			// The private set loads into the id_token mutator and signs.
			signers := idtoken.NewSigners(idtoken.Options{})
			m, err := idtoken.New(idtoken.Config{IssuerURL: "https://portcullis.test/", JWKSURL: "file://" + privPath}, signers)
			if err != nil {
				t.Fatalf("id_token mutator with the generated set: %v", err)
			}
			s := &pipeline.Session{Subject: "alice", Header: pipeline.Header{}}
			if err := m.Mutate(context.Background(), &pipeline.Request{Header: pipeline.Header{}}, s); err != nil {
				t.Fatal(err)
			}
			token, ok := strings.CutPrefix(s.Header.Get("authorization"), "Bearer ")
			if !ok {
				t.Fatalf("no bearer token minted: %v", s.Header)
			}

			// ...and the public half alone verifies it.
			pubSet, err := jwk.Parse(pubRaw)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.ParseString(token, jwt.WithKeySet(pubSet), jwt.WithValidate(true), jwt.WithIssuer("https://portcullis.test/"), jwt.WithAcceptableSkew(time.Minute))
			if err != nil {
				t.Fatalf("verify with the public set: %v", err)
			}
			if tok.Subject() != "alice" {
				t.Errorf("sub %q", tok.Subject())
			}
			msg, err := jws.ParseString(token)
			if err != nil {
				t.Fatal(err)
			}
			if h := msg.Signatures()[0].ProtectedHeaders(); h.KeyID() != kid || string(h.Algorithm()) != tt.alg {
				t.Errorf("token header kid %q alg %q, want %q %q", h.KeyID(), h.Algorithm(), kid, tt.alg)
			}

			// What Portcullis publishes for the mutator is that same half.
			served, err := signers.PublicJWKS()
			if err != nil {
				t.Fatal(err)
			}
			servedSet, err := jwk.Parse(served)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := pubSet.Key(0)
			got, ok := servedSet.LookupKeyID(kid)
			if servedSet.Len() != 1 || !ok || !jwk.Equal(got, want) {
				t.Errorf("served %s, want the generated public key %s", served, pubRaw)
			}
			// Signers holds its key sets weakly, for the rules in force:
			// m is what keeps this one published until here.
			runtime.KeepAlive(m)
		})
	}
}

func TestGenerateCredentialsToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"credentials", "generate", "--alg", "es256"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	set, err := jwk.Parse(stdout.Bytes())
	if err != nil || set.Len() != 1 {
		t.Fatalf("stdout is not a one-key JWKS: %v\n%s", err, stdout.String())
	}
	k, _ := set.Key(0)
	if _, err := k.PublicKey(); err != nil || k.KeyType() != "EC" {
		t.Fatalf("key %v: %v", k, err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil || doc.Keys[0]["d"] == nil {
		t.Fatalf("the default output is the private set: %s", stdout.String())
	}
}

func TestGenerateCredentialsRejects(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "in-use.json")
	if err := os.WriteFile(existing, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh.json")
	tests := []struct {
		name       string
		args       []string
		wantStderr string
	}{
		{"no alg", []string{"credentials", "generate"}, "portcullis: --alg: is required (" + algNames + ")"},
		{"symmetric alg", []string{"credentials", "generate", "--alg", "HS256"}, `portcullis: --alg: "HS256" is not supported (` + algNames + `; HMAC keys cannot be published)`},
		{"small RSA key", []string{"credentials", "generate", "--alg", "RS256", "--bits", "1024"}, "portcullis: --bits: must be between 2048 and 8192 for RS256 (got 1024)"},
		{"control character in kid", []string{"credentials", "generate", "--alg", "ES256", "--kid", "a\nb"}, `portcullis: --kid: "a\nb" contains a control or non-printable character`},
		{"existing private file", []string{"credentials", "generate", "--alg", "ES256", "-o", existing}, "portcullis: --output: " + existing + " already exists: refusing to overwrite a key file"},
		{"existing public file", []string{"credentials", "generate", "--alg", "ES256", "-o", fresh, "--public", existing}, "portcullis: --public: " + existing + " already exists: refusing to overwrite a key file"},
		{"same file twice", []string{"credentials", "generate", "--alg", "ES256", "-o", fresh, "--public", fresh}, "portcullis: --output and --public name the same file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if got := strings.TrimSpace(stderr.String()); got != tt.wantStderr {
				t.Errorf("stderr %q, want %q", got, tt.wantStderr)
			}
			if stdout.Len() != 0 {
				t.Errorf("no key may be printed on failure: %q", stdout.String())
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != `{"keys":[]}` {
		t.Errorf("an existing key file was changed: %s", b)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a failed run left %s behind (%v)", fresh, err)
	}
}
