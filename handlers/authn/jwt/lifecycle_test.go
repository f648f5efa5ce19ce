package jwt

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/jwks"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestJWKSUnavailableIs503(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	e.idp.set(nil, 500)
	c := e.J0()
	c.JWKSMaxWait = pipeline.Duration(30 * time.Second)
	a := e.auth(t, c, nil)
	raw := tok(t, K1, H0(), C0())
	s, err := run(a, bearer(raw))
	checkOutcome(t, ReasonJWKSUnavailable, s, err, raw)
	var pe *pipeline.Error
	if !errors.As(err, &pe) || pe.Err == nil {
		t.Fatal("503 must carry the fetch error as its cause")
	}

	// The endpoint never answers and every fetch timeout in newEnv is a
	// minute, so only jwks_max_wait can end this request: returning at
	// all is the proof, whatever the machine's speed.
	blocked := blockingServer(t)
	c.JWKSURLs = []string{blocked.URL}
	c.JWKSMaxWait = pipeline.Duration(time.Millisecond)
	a = e.auth(t, c, nil)
	_, err = run(a, bearer(raw))
	if pipeline.ReasonOf(err, "") != ReasonJWKSUnavailable {
		t.Fatalf("blocked endpoint: %v", err)
	}
	// Likewise a done context is the only thing that can end this one.
	a.maxWait = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := authenticate(ctx, a, raw); pipeline.ReasonOf(err, "") != ReasonJWKSUnavailable {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestRequiredClaimsAndTypes(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	tests := []struct {
		name     string
		required []string
		h, c     map[string]any
		want     string
	}{
		{"custom required claim present", []string{"exp", "jti"}, H0(), C0(), ""},
		{"custom required claim missing", []string{"exp", "tenant"}, H0(), C0(), ReasonClaimMissing},
		{"required claim null", []string{"jti"}, H0(), claims(map[string]any{"jti": jsonNull}), ReasonClaimMissing},
		{"sub not a string", nil, H0(), claims(map[string]any{"sub": 42}), ReasonClaimInvalid},
		{"sub absent gives an empty subject", nil, H0(), claims(map[string]any{"sub": nil}), "nosub"},
		{"typ at+jwt", nil, hdr(map[string]any{"typ": "at+jwt"}), C0(), ""},
		{"typ application/at+jwt", nil, hdr(map[string]any{"typ": "application/at+JWT"}), C0(), ""},
		{"typ absent", nil, hdr(map[string]any{"typ": nil}), C0(), ""},
		{"typ unknown value passes", nil, hdr(map[string]any{"typ": "custom"}), C0(), ""},
		{"typ logout+jwt is refused", nil, hdr(map[string]any{"typ": "logout+jwt"}), C0(), ReasonUnsupported},
		{"typ secevent+jwt is refused", nil, hdr(map[string]any{"typ": "secevent+jwt"}), C0(), ReasonUnsupported},
		{"typ dpop+jwt is refused", nil, hdr(map[string]any{"typ": "dpop+jwt"}), C0(), ReasonUnsupported},
		{"typ JOSE+JSON is refused", nil, hdr(map[string]any{"typ": "JOSE+JSON"}), C0(), ReasonUnsupported},
		{"typ not a string", nil, hdr(map[string]any{"typ": 1}), C0(), ReasonMalformed},
		{"kid not a string", nil, hdr(map[string]any{"kid": 1}), C0(), ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.J0()
			if tt.required != nil {
				c.RequiredClaims = tt.required
			}
			a := e.auth(t, c, nil)
			raw := tok(t, K1, tt.h, tt.c)
			s, err := run(a, bearer(raw))
			if tt.want == "nosub" {
				if err != nil || s.Subject != "" {
					t.Fatalf("want allow with empty subject, got %q %v", s.Subject, err)
				}
				return
			}
			checkOutcome(t, tt.want, s, err, raw)
		})
	}
}

func TestCloseReleasesJWKSRegistrations(t *testing.T) {
	e := newEnv(t, jwks.Options{})
	a := e.auth(t, e.J0(), nil)
	raw := tok(t, K1, H0(), C0())
	if _, err := run(a, bearer(raw)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run(a, bearer(raw)); err != nil {
		t.Fatalf("in-flight use after Close must keep working: %v", err)
	}
	// The URL is no longer registered: a new rule gets a fresh source.
	b := e.auth(t, e.J0(), nil)
	if b.srcs[0] == a.srcs[0] {
		t.Fatal("released source was handed out again")
	}
	if _, err := New(Config{}, e.keys, nil, nil); err == nil {
		t.Fatal("New must validate")
	}
	if _, err := New(e.J0(), nil, nil, nil); err == nil {
		t.Fatal("New without a jwks cache must fail")
	}
	_ = e.keys.Close()
	if _, err := New(e.J0(), e.keys, nil, nil); !errors.Is(err, jwks.ErrClosed) {
		t.Fatalf("New on a closed cache = %v", err)
	}
}
