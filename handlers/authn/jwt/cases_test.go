package jwt

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// secCase is one row of a SECURITY_CASES.md table: build returns the token
// (and may change the rule config; with token_from query_parameter the
// token is sent in the query), want is the expected reason ID ("" for
// allow, "skip" for not responsible).
type secCase struct {
	name  string
	build func(tb testing.TB, e *env, c *Config) string
	want  string
}

// runCases runs rows against J0 (as changed by each row) with the token
// cache on, so every row also proves the cache does not change outcomes.
func runCases(t *testing.T, rows []secCase) {
	t.Helper()
	e := newEnv(t, envOptions())
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			c := e.J0()
			raw := tc.build(t, e, &c)
			r := bearer(raw)
			if c.TokenFrom != nil && c.TokenFrom.QueryParameter != "" {
				r = &pipeline.Request{Header: pipeline.Header{}, RawQuery: c.TokenFrom.QueryParameter + "=" + url.QueryEscape(raw)}
			}
			a := e.auth(t, c, NewTokenCache(TokenCacheOptions{}))
			for pass := range 2 { // the second pass may hit the token cache
				s, err := run(a, r)
				checkOutcome(t, tc.want, s, err, raw)
				if t.Failed() {
					t.Logf("pass %d", pass)
					return
				}
			}
		})
	}
}

func checkOutcome(t *testing.T, want string, s *pipeline.Session, err error, raw string) {
	t.Helper()
	switch want {
	case "":
		if err != nil {
			t.Fatalf("want allow, got %v", err)
		}
		if s.Subject != "alice" {
			t.Fatalf("Subject = %q", s.Subject)
		}
		return
	case "skip":
		if !errors.Is(err, pipeline.ErrSkip) {
			t.Fatalf("want ErrSkip, got %v", err)
		}
		return
	}
	var pe *pipeline.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want %s, got %v", want, err)
	}
	wantStatus := http.StatusUnauthorized
	if want == ReasonJWKSUnavailable {
		wantStatus = http.StatusServiceUnavailable
	}
	if pe.ID != want || pe.Status != wantStatus {
		t.Fatalf("got %d %s (%v), want %d %s", pe.Status, pe.ID, err, wantStatus, want)
	}
	if s.Subject != "" || s.Extra != nil {
		t.Fatal("a rejected token filled the session")
	}
	assertNoSecret(t, err, raw)
}

// assertNoSecret fails when an error text carries the token or one of its
// segments (F-01).
func assertNoSecret(t *testing.T, err error, raw string) {
	t.Helper()
	msg := err.Error()
	for _, part := range strings.Split(raw, ".") {
		if len(part) >= 8 && strings.Contains(msg, part) {
			t.Fatalf("error %q contains a token segment", msg)
		}
	}
}

// hmacTok signs with HMAC-SHA256 directly, so any key, even an empty one,
// can be used.
func hmacTok(tb testing.TB, key []byte, h, c map[string]any) string {
	tb.Helper()
	in := jsonSeg(tb, h) + "." + jsonSeg(tb, c)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + b64u(m.Sum(nil))
}

// unalignedClaims returns C0 with a jti chosen so the encoded payload ends
// in a character with unused low bits.
func unalignedClaims(tb testing.TB) map[string]any {
	tb.Helper()
	for i := 1; i < 10; i++ {
		c := claims(map[string]any{"jti": "t-" + strings.Repeat("1", i)})
		if seg := jsonSeg(tb, c); len(seg)%4 != 0 {
			return c
		}
	}
	tb.Fatal("no unaligned payload found")
	return nil
}

// sibling changes the last character of seg to the one that differs only
// in bits the decoder ignores when not strict (A-24 c).
func sibling(tb testing.TB, seg string) string {
	tb.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		tb.Fatal("segment has no unused bits")
	}
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(alphabet[i^1])
}

func envOptions() jwks.Options { return jwks.Options{} }

// authenticate runs a under a context, for tests that need one.
func authenticate(ctx context.Context, a *Authenticator, raw string) error {
	return a.Authenticate(ctx, bearer(raw), &pipeline.Session{})
}
