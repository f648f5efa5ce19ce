package jwt

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
)

// F-01: at debug level, neither the jwt nor the jwks logger writes a token,
// a signature segment or a JWKS query secret.
func TestLogsNeverContainCredentials(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	e := newEnv(t, jwks.Options{Logger: log})
	c := e.J0()
	bad := newIDP(t, []byte("{}"))
	bad.set(nil, 500)
	c.JWKSURLs = append(c.JWKSURLs, bad.URL+"/jwks?api_key=SECRETKEY")
	h, err := New(c, e.keys, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	a := h.(*Authenticator)
	a.now = func() time.Time { return NOW }
	a.maxWait = time.Hour // the failed fetch must have been logged when run returns
	t.Cleanup(func() { _ = a.Close() })
	raws := []string{
		tok(t, KA, H0(), C0()),
		tok(t, K1, H0(), claims(map[string]any{"exp": NOW.Unix() - 3600})),
		tok(t, KA, hdr(map[string]any{"kid": "unknown-kid-SECRET"}), C0()),
		jsonSeg(t, hdr(map[string]any{"alg": "none"})) + "." + jsonSeg(t, C0()) + ".",
	}
	for _, raw := range raws {
		_, _ = run(a, bearer(raw))
	}
	if logs.FilterMessage("jwt rejected").Len() == 0 || logs.FilterMessage("jwks fetch failed").Len() == 0 {
		t.Fatalf("expected rejection and fetch-failure lines, got %d lines", logs.Len())
	}
	for _, entry := range logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += " " + k + "=" + fmt.Sprint(v)
		}
		if strings.Contains(line, "SECRET") {
			t.Fatalf("log line leaks a secret: %s", line)
		}
		for _, raw := range raws {
			for _, part := range strings.Split(raw, ".") {
				if len(part) >= 8 && strings.Contains(line, part) {
					t.Fatalf("log line contains a token segment: %s", line)
				}
			}
		}
	}
}
