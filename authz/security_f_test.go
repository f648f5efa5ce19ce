package authz_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
)

// TestSecurityF covers category F (token and secret handling) of
// SECURITY_CASES.md at the gRPC front door.
func TestSecurityF(t *testing.T) {
	t.Parallel()
	t.Run("F-01 secrets in logs at every level", secF01)
	t.Run("F-03 log injection through token fields", secF03)
	t.Run("F-07 no private key material in the published JWKS", secF07)
}

func secF01(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)

	const (
		clientSecret  = "client-secret-F01-7d1c0a4e"
		preAuthToken  = "preauth-access-F01-5b2e91"
		sessionSecret = "sess-F01-0f9a8b7c6d5e"
		apiKey        = "apikey-F01-3c4d5e6f7a8b9c0d"
		wrongAPIKey   = "apikey-F01-wrong-1a2b3c4d"
		basicPassword = "pa55w0rd-F01"
		liveOpaque    = "live-opaque-F01-8e7d6c5b"
		deadOpaque    = "dead401-opaque-F01-4a3b2c"
	)
	tokenEndpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if id, secret, ok := r.BasicAuth(); !ok || id != "portcullis" || secret != clientSecret {
			if r.PostFormValue("client_secret") != clientSecret {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"`+preAuthToken+`","token_type":"bearer","expires_in":3600}`)
	}))
	t.Cleanup(tokenEndpoint.Close)
	intro := newSecIntrospection(t)
	sessions := newSecSessionStore(t)
	keyHash := sha256.Sum256([]byte(apiKey))
	keysFile := secWriteFile(t, t.TempDir(), "keys.json", secJSON(t, []map[string]any{
		{"id": "ci", "hash": "sha256:" + hex.EncodeToString(keyHash[:]), "subject": "ci-bot"}}))

	w := e.world(t, secWorldOpts{log: log, rules: secRulesBase + secSessionRules(sessions.URL) + fmt.Sprintf(`
- id: R-f01-introspection
  match: {url: "https://api.test/f01/intro/<.*>", methods: [GET]}
  authenticators:
    - handler: oauth2_introspection
      config:
        introspection_url: "%s"
        timeout: 10s
        pre_authorization: {enabled: true, client_id: portcullis, client_secret: "%s", token_url: "%s"}
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: R-f01-key
  match: {url: "https://api.test/f01/key/<.*>", methods: [GET]}
  authenticators: [{handler: api_key, config: {keys_file: "%s"}}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`, intro.URL, clientSecret, tokenEndpoint.URL, strings.TrimPrefix(keysFile, "file://"))})

	valid := secToken(t, nil, nil)
	badSig := secJWT(t, "RS256", secKeyKA, secH0(), secC0())
	expired := secToken(t, nil, map[string]any{"exp": secC0()["exp"].(int64) - 3600})
	unknownKID := secJWT(t, "RS256", secKeyK2, map[string]any{"alg": "RS256", "kid": "k2"}, secC0())
	inQuery := secToken(t, nil, nil)
	basic := base64.StdEncoding.EncodeToString([]byte("alice:" + basicPassword))

	type req struct {
		path    string
		headers map[string]string
		allow   bool
	}
	reqs := []req{
		{"/admin/x", secBearer(valid), true},
		{"/users/42", secBearer(valid), true},
		{"/admin/x", secBearer(badSig), false},
		{"/admin/x", secBearer(expired), false},
		{"/admin/x", secBearer(unknownKID), false},
		{"/admin/x?access_token=" + inQuery, nil, false},
		{"/admin/x?access_token=" + inQuery, secBearer(valid), false},
		{"/f01/intro/x", secBearer(liveOpaque), true},
		{"/f01/intro/x", secBearer(deadOpaque), false},
		{"/d17b/ok", map[string]string{"cookie": "session=" + sessionSecret}, true},
		{"/d17b/nope", map[string]string{"cookie": "session=" + sessionSecret}, false},
		{"/f01/key/x", map[string]string{"x-api-key": apiKey}, true},
		{"/f01/key/x", map[string]string{"x-api-key": wrongAPIKey}, false},
		{"/public/x", map[string]string{"proxy-authorization": "Basic " + basic}, true},
		{"/public/x?access_token=" + inQuery, nil, true},
	}
	for _, rq := range reqs {
		r := w.check(t, secCheck("GET", secHost, rq.path, rq.headers))
		if r.allowed() != rq.allow {
			t.Errorf("GET %s: %v, want allowed=%v", rq.path, r, rq.allow)
		}
	}

	secrets := map[string]string{
		"client secret": clientSecret, "pre-authorization token": preAuthToken, "session cookie": sessionSecret,
		"API key": apiKey, "wrong API key": wrongAPIKey, "basic credentials": basic, "password": basicPassword,
		"opaque token": liveOpaque, "rejected opaque token": deadOpaque,
	}
	for name, tok := range map[string]string{"valid jwt": valid, "bad-signature jwt": badSig, "expired jwt": expired,
		"unknown-kid jwt": unknownKID, "query jwt": inQuery} {
		secrets[name] = tok
		secrets[name+" signature"] = tok[strings.LastIndexByte(tok, '.')+1:]
	}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	entries := logs.All()
	if logs.FilterLevelExact(zapcore.DebugLevel).Len() == 0 {
		t.Fatal("no debug entries: the observer is not at debug level")
	}
	for _, le := range entries {
		buf, err := enc.EncodeEntry(le.Entry, le.Context)
		if err != nil {
			t.Fatal(err)
		}
		line := buf.String()
		buf.Free()
		for _, name := range secNames(secrets) {
			if strings.Contains(line, secrets[name]) {
				t.Errorf("log entry leaks the %s: %s", name, line)
			}
		}
	}
	t.Logf("%d log entries checked for %d secrets", len(entries), len(secrets))
}

func secNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// secLockedCore writes each entry to its core (a tee) under mu, so that
// a reader holding mu sees every core of the tee at the same entry.
type secLockedCore struct {
	zapcore.Core
	mu *sync.Mutex
}

func (c secLockedCore) With(fields []zapcore.Field) zapcore.Core {
	return secLockedCore{Core: c.Core.With(fields), mu: c.mu}
}

func (c secLockedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c secLockedCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Core.Write(e, fields)
}

// secSyncBuffer is a bytes.Buffer safe for the concurrent writes of a
// zap core.
type secSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *secSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *secSyncBuffer) Sync() error { return nil }

func (s *secSyncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func secF03(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	var jsonOut, textOut secSyncBuffer
	obs, logs := observer.New(zapcore.DebugLevel)
	var entryMu sync.Mutex
	log := zap.New(secLockedCore{Core: zapcore.NewTee(
		obs,
		zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), &jsonOut, zapcore.DebugLevel),
		zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), &textOut, zapcore.DebugLevel),
	), mu: &entryMu})
	w := e.world(t, secWorldOpts{log: log, rules: secRulesBase})

	const forged = "2026-01-01T00:00:00Z INFO granted=true subject=admin"
	ansi := "\x1b[31mred\x1b[0m\x1b]0;title\x07"
	for _, c := range []struct {
		name    string
		path    string
		headers map[string]string
		allow   bool
	}{
		{name: "kid with LF", path: "/admin/x", headers: secBearer(secJWT(t, "RS256", secKeyK1, map[string]any{"alg": "RS256", "kid": "x\n" + forged}, secC0()))},
		{name: "kid with CRLF", path: "/admin/x", headers: secBearer(secJWT(t, "RS256", secKeyK1, map[string]any{"alg": "RS256", "kid": "x\r\n" + forged}, secC0()))},
		{name: "subject with LF", path: "/users/42", headers: secBearer(secToken(t, nil, map[string]any{"sub": "alice\n" + forged})), allow: true},
		{name: "path with %0a", path: "/admin/x%0a" + strings.ReplaceAll(forged, " ", "%20")},
		{name: "path with %0d%0a", path: "/public/x%0d%0a" + strings.ReplaceAll(forged, " ", "%20")},
		{name: "user-agent and request id with ANSI escapes", path: "/public/x", headers: map[string]string{"user-agent": ansi, "x-request-id": ansi}, allow: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := w.check(t, secCheck("GET", secHost, c.path, c.headers))
			if r.allowed() != c.allow {
				t.Fatalf("got %v, want allowed=%v", r, c.allow)
			}
		})
	}

	// One line per entry: a forged line would make more. Background work
	// (key fetches) may still be logging; each entry reaches the three
	// cores under entryMu, so holding it gives a consistent snapshot.
	entryMu.Lock()
	n, jsonLines, textLines := len(logs.All()), jsonOut.lines(), textOut.lines()
	entryMu.Unlock()
	for _, out := range []struct {
		name  string
		lines []string
	}{{"json", jsonLines}, {"console", textLines}} {
		if len(out.lines) != n {
			t.Errorf("%s log: %d lines for %d entries: a field broke a line", out.name, len(out.lines), n)
		}
		for _, l := range out.lines {
			if strings.HasPrefix(l, "2026-01-01T00:00:00Z") {
				t.Errorf("%s log: forged line %q", out.name, l)
			}
			for i := 0; i < len(l); i++ {
				if c := l[i]; c < 0x20 && c != '\t' || c == 0x7f {
					t.Errorf("%s log: raw control byte %#02x in %q", out.name, c, l)
					break
				}
			}
			if out.name == "json" && !json.Valid([]byte(l)) {
				t.Errorf("json log: invalid line %q", l)
			}
		}
	}
	if n == 0 {
		t.Fatal("nothing was logged")
	}
}

func secF07(t *testing.T) {
	t.Parallel()
	e := newSecEnv(t)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rsaKeys := secPrivateJWKS(t, dir, "rsa.json", secKeyK2, map[string]any{"kid": "gw-rsa", "alg": "RS256", "use": "sig", "x-private-note": "do-not-publish"})
	ecKeys := secPrivateJWKS(t, dir, "ec.json", ec, map[string]any{"kid": "gw-ec", "alg": "ES256", "use": "sig"})
	w := e.world(t, secWorldOpts{rules: secRulesBase + `
- id: R-mint-rsa
  match: {url: "https://api.test/mint/rsa", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: id_token, config: {issuer_url: "https://gw.test", jwks_url: "` + rsaKeys + `"}}]
- id: R-mint-ec
  match: {url: "https://api.test/mint/ec", methods: [GET]}
  authenticators: [{handler: jwt}]
  authorizer: {handler: allow}
  mutators: [{handler: id_token, config: {issuer_url: "https://gw.test", jwks_url: "` + ecKeys + `"}}]
`})
	for _, p := range []string{"/mint/rsa", "/mint/ec"} {
		if r := w.check(t, secCheck("GET", secHost, p, secBearer(secToken(t, nil, nil)))); !r.allowed() {
			t.Fatalf("%s: %v", p, r)
		}
	}
	st := &secStore{}
	st.p.Store(w.snap)
	api := httptest.NewServer(authz.NewAPIHandler(st, nil, authz.APIOptions{PublicJWKS: w.deps.PublicJWKS}))
	t.Cleanup(api.Close)
	resp, err := http.Get(api.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /.well-known/jwks.json: %d %v", resp.StatusCode, err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	allowed := map[string]map[string]bool{
		"RSA": {"kty": true, "n": true, "e": true, "kid": true, "alg": true, "use": true},
		"EC":  {"kty": true, "crv": true, "x": true, "y": true, "kid": true, "alg": true, "use": true},
	}
	kids := map[string]bool{}
	for _, k := range doc.Keys {
		kty, _ := k["kty"].(string)
		kid, _ := k["kid"].(string)
		kids[kid] = true
		for member := range k {
			switch member {
			case "d", "p", "q", "dp", "dq", "qi", "k", "oth":
				t.Errorf("key %q publishes the private member %q", kid, member)
			default:
				if !allowed[kty][member] {
					t.Errorf("key %q (kty %q) publishes the member %q", kid, kty, member)
				}
			}
		}
	}
	if !kids["gw-rsa"] || !kids["gw-ec"] {
		t.Fatalf("published kids %v, want gw-rsa and gw-ec: %s", kids, body)
	}
}
