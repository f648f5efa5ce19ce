package idtoken

import (
	"context"
	"crypto/elliptic"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestRefreshFailureKeepsKeysUntilMaxStale(t *testing.T) {
	good := jwksJSON(t, jwkOf(t, newECKey(t, elliptic.P256()), "kid", "k1"))
	publicOnly := jwksJSON(t, jwkOf(t, &newECKey(t, elliptic.P256()).PublicKey, "kid", "p"))
	tests := []struct {
		name        string
		breakSource func(js *jwksServer)
	}{
		{"server errors", func(js *jwksServer) { js.set([]byte("down"), http.StatusBadGateway) }},
		{"set loses its private key", func(js *jwksServer) { js.set(publicOnly, http.StatusOK) }},
		{"set is not JSON", func(js *jwksServer) { js.set([]byte("{"), http.StatusOK) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			js := &jwksServer{}
			js.set(good, http.StatusOK)
			srv := httptest.NewServer(js)
			defer srv.Close()
			core, logs := observer.New(zap.WarnLevel)
			clk := newClock()
			s := NewSigners(Options{Client: outbound.New(outbound.Options{}), Logger: zap.New(core), MaxStale: 10 * time.Minute, Now: clk.Now})
			m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: srv.URL + "/jwks?key=s3cr3t"}, s)

			tt.breakSource(js)
			s.refreshAll(context.Background())
			clk.Advance(9 * time.Minute)
			verify(t, s, clk, bearer(t, mutate(t, m, "alice", nil)), testIssuer)
			if logs.FilterMessageSnippet("refresh failed").Len() != 1 {
				t.Errorf("want one refresh warning, got %v", logs.All())
			}
			for _, e := range logs.All() {
				if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, "s3cr3t") {
					t.Errorf("log leaks the jwks_url query: %s", line)
				}
			}

			s.refreshAll(context.Background()) // still failing: the clock keeps running from the first failure
			clk.Advance(time.Minute)
			err := m.Mutate(context.Background(), &pipeline.Request{}, &pipeline.Session{Subject: "alice"})
			if pipeline.StatusOf(err) != http.StatusServiceUnavailable || pipeline.ReasonOf(err, "") != "id_token_signer_unavailable" {
				t.Fatalf("err = %v, want 503 id_token_signer_unavailable", err)
			}

			js.set(good, http.StatusOK)
			s.refreshAll(context.Background())
			verify(t, s, clk, bearer(t, mutate(t, m, "alice", nil)), testIssuer)
		})
	}
}

func TestRefreshOfUnchangedSetKeepsSignerAndCache(t *testing.T) {
	clk := newClock()
	s := NewSigners(Options{Now: clk.Now})
	m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json")}, s)
	before := m.src.state.Load().keys
	tok := bearer(t, mutate(t, m, "alice", nil))
	s.refreshAll(context.Background())
	if m.src.state.Load().keys != before {
		t.Error("unchanged set was parsed again")
	}
	if tok2 := bearer(t, mutate(t, m, "alice", nil)); tok2 != tok {
		t.Error("cached token not served after a no-op refresh")
	}
}

func TestRunRefreshesUntilCancelled(t *testing.T) {
	js := &jwksServer{}
	js.set(jwksJSON(t, jwkOf(t, newECKey(t, elliptic.P256()), "kid", "k1")), http.StatusOK)
	srv := httptest.NewServer(js)
	defer srv.Close()
	s := NewSigners(Options{Client: outbound.New(outbound.Options{}), RefreshInterval: 5 * time.Millisecond})
	m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: srv.URL}, s)

	next := jwksJSON(t, jwkOf(t, newEdKey(t), "kid", "k2"))
	js.set(next, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := testDeadline(t)
	for m.src.state.Load().keys.signer.kid != "k2" {
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the rotated key")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil { // the test binary's -timeout catches a Run that never returns
		t.Fatalf("Run returned %v", err)
	}
}

// testDeadline is when a wait for an event gives up: shortly before the
// test binary's -timeout, never earlier, so that a loaded machine cannot
// fail a wait (far in the future when there is no -timeout).
func testDeadline(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-5 * time.Second)
	}
	return time.Now().Add(24 * time.Hour)
}

// TestRetiredSourceLeavesPublishedSet: once no mutator holds a key set (its
// rule snapshot was replaced and collected), its keys are no longer
// published and Run stops refreshing it.
func TestRetiredSourceLeavesPublishedSet(t *testing.T) {
	s := NewSigners(Options{})
	newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-ecdsa.json")}, s)
	func() {
		if _, err := New(Config{IssuerURL: testIssuer, JWKSURL: fixtureURL(t, "jwks-idt.json")}, s); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := testDeadline(t)
	for publishedSet(t, s).Len() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("retired key set still published: %d keys", publishedSet(t, s).Len())
		}
		runtime.GC()
	}
	if _, ok := publishedSet(t, s).LookupKeyID("21d9eefe-34b6-42b3-b643-2b30e0ab59e0"); !ok {
		t.Error("key set in use was dropped")
	}
	if n := len(s.live()); n != 1 {
		t.Errorf("%d live sources, want 1", n)
	}
}

func TestPublicJWKSDeduplicatesByKID(t *testing.T) {
	a := newECKey(t, elliptic.P256())
	u1 := writeJWKS(t, jwksJSON(t, jwkOf(t, a, "kid", "same")))
	u2 := strings.Replace(u1, "file://", "file://localhost", 1) // the same file by another URL
	u3 := writeJWKS(t, jwksJSON(t, jwkOf(t, newEdKey(t), "kid", "same")))
	core, logs := observer.New(zap.WarnLevel)
	s := NewSigners(Options{Logger: zap.New(core)})
	for _, u := range []string{u1, u2, u3} {
		newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: u}, s)
	}
	set := publishedSet(t, s)
	if set.Len() != 1 {
		t.Fatalf("published %d keys, want 1", set.Len())
	}
	k, _ := set.Key(0)
	if k.KeyType() != "EC" {
		t.Errorf("kept %s key, want the first source's EC key", k.KeyType())
	}
	if n := logs.FilterMessageSnippet("one kid for different keys").Len(); n != 1 {
		t.Errorf("%d conflict warnings, want 1 (same key by two URLs is no conflict)", n)
	}
}

func TestPublicJWKSEmptyWithoutSigners(t *testing.T) {
	b, err := NewSigners(Options{}).PublicJWKS()
	if err != nil || string(b) != `{"keys":[]}` {
		t.Fatalf("got %s, %v", b, err)
	}
}

// TestConcurrentMutateDuringRotation runs minting, cache hits, refreshes and
// publication at once (meaningful under -race); every token verifies.
func TestConcurrentMutateDuringRotation(t *testing.T) {
	a, b := jwkOf(t, newECKey(t, elliptic.P256()), "kid", "a"), jwkOf(t, newEdKey(t), "kid", "b")
	u := writeJWKS(t, jwksJSON(t, a, b))
	clk := newClock()
	s := NewSigners(Options{Now: clk.Now})
	m := newMutator(t, Config{IssuerURL: testIssuer, JWKSURL: u}, s)

	var wg sync.WaitGroup
	tokens := make([][]string, 8)
	for g := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				sess := &pipeline.Session{Subject: fmt.Sprintf("user-%d", i%5)}
				if err := m.Mutate(context.Background(), &pipeline.Request{}, sess); err != nil {
					t.Error(err)
					return
				}
				tokens[g] = append(tokens[g], strings.TrimPrefix(sess.Header.Get("authorization"), "Bearer "))
			}
		}()
	}
	for i := 0; i < 6; i++ {
		order := [][]byte{jwksJSON(t, a, b), jwksJSON(t, b, a)}[i%2]
		if err := os.WriteFile(strings.TrimPrefix(u, "file://"), order, 0o600); err != nil {
			t.Fatal(err)
		}
		s.refreshAll(context.Background())
		if _, err := s.PublicJWKS(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, ts := range tokens {
		for _, tok := range ts {
			verify(t, s, clk, tok, testIssuer)
		}
	}
}
