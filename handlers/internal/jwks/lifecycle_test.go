package jwks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
)

func TestFetchFailures(t *testing.T) {
	redirect := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:1/x", http.StatusFound))
	t.Cleanup(redirect.Close)
	big := newJWKSServer(t, []byte(`{"keys":[`+strings.Repeat(" ", 4096)+`]}`))
	notFound := newJWKSServer(t, k1Doc(t))
	notFound.set(nil, http.StatusNotFound)
	html := newJWKSServer(t, []byte("<html>"))
	tests := []struct {
		name    string
		url     string
		opts    Options
		wantErr string
	}{
		{"status other than 200", notFound.URL + "/jwks?api_key=SECRET", Options{}, "status 404"},
		{"redirects are not followed", redirect.URL + "/jwks?api_key=SECRET", Options{}, "redirect refused"},
		{"oversized body", big.URL + "?api_key=SECRET",
			Options{Client: outbound.New(outbound.Options{MaxBodyBytes: 1024})}, "too large"},
		{"not a jwks", html.URL + "?api_key=SECRET", Options{}, "decode jwks"},
		{"missing file", "file:///nonexistent/jwks.json", Options{}, "no such file"},
		{"oversized file", "file://./testdata/jwks-rsa-multiple.json", Options{MaxBodyBytes: 100}, "larger than 100 bytes"},
		{"no http client", "https://idp.test/jwks", Options{Client: nil}, "no http client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Cache
			if tt.name == "no http client" {
				c = New(tt.opts)
				t.Cleanup(func() { _ = c.Close() })
			} else {
				c = newCache(t, tt.opts)
			}
			src := mustRegister(t, c, tt.url)
			c.Await(context.Background(), []*Source{src}, time.Hour)
			if src.Current() != nil {
				t.Fatal("keys despite a failed fetch")
			}
			err := src.Err()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Fatalf("error leaks the query: %v", err)
			}
		})
	}
}

func TestRegistry(t *testing.T) {
	c := newCache(t, Options{TTL: time.Minute})
	a := mustRegister(t, c, "https://idp.test/jwks")
	b, err := c.Register("https://idp.test/jwks", 10*time.Second)
	if err != nil || a != b {
		t.Fatalf("same URL must share one source (err %v)", err)
	}
	if a.ttl != 10*time.Second {
		t.Fatalf("ttl = %v, want the shorter registration", a.ttl)
	}
	if _, err := c.Register("https://idp.test/jwks", time.Hour); err != nil || a.ttl != 10*time.Second {
		t.Fatal("a longer ttl must not raise the interval")
	}
	if long, err := c.Register("https://idp2.test/jwks", 6*time.Hour); err != nil || long.ttl != 6*time.Hour {
		t.Fatal("a first registration longer than Options.TTL must be honoured")
	}
	if a.URL() != "https://idp.test/jwks" {
		t.Fatalf("URL = %q", a.URL())
	}
	if _, err := c.Register("htp://x", 0); err == nil || !strings.Contains(err.Error(), `unsupported scheme "htp"`) {
		t.Fatalf("bad URL: %v", err)
	}
	for range 3 {
		c.Release(a)
	}
	c.Release(c.sources["https://idp2.test/jwks"])
	if n := len(c.sources); n != 0 {
		t.Fatalf("%d sources after the last release", n)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register("https://idp.test/jwks", 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Register after Close = %v", err)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("Run after Close must fail")
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close must be a no-op")
	}
}

func TestRunTwiceFails(t *testing.T) {
	c := newCache(t, Options{})
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(context.Background()) }()
	eventually(t, "Run to start", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.running
	})
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("second Run must fail")
	}
	_ = c.Close()
	<-done
}

// The endpoint never answers and the fetch timeout is an hour, so only
// Close's cancellation can end the fetch: Close returning is the proof.
func TestCloseCancelsRunningFetches(t *testing.T) {
	srv := newJWKSServer(t, k1Doc(t))
	srv.setDelay(0, true)
	c := New(Options{Client: outbound.New(outbound.Options{Timeout: time.Hour}), FetchTimeout: time.Hour})
	src := mustRegister(t, c, srv.URL)
	c.Refetch(context.Background(), []*Source{src}, 0)
	eventually(t, "fetch to reach the server", func() bool { return srv.hits.Load() == 1 })
	returns(t, "Close", func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	if c.Refetch(context.Background(), []*Source{src}, time.Second) {
		t.Fatal("a closed cache started a fetch")
	}
}

func TestBackoffGrowsAndStaysBelowTheTTL(t *testing.T) {
	c := newCache(t, Options{BackoffMin: 10 * time.Millisecond, BackoffMax: time.Second})
	s := mustRegister(t, c, "https://idp.test/jwks")
	s.ttl = 100 * time.Millisecond
	var prev time.Duration
	for f := 1; f <= 10; f++ {
		s.failures = f
		d := s.backoff()
		if d < 10*time.Millisecond || d > 110*time.Millisecond {
			t.Fatalf("failure %d: backoff %v outside [10ms, ttl+10%%]", f, d)
		}
		if f <= 4 && d < prev {
			t.Fatalf("failure %d: backoff %v shrank from %v", f, d, prev)
		}
		prev = d
	}
}
