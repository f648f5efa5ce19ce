package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// startScenario prepares sc in a temporary directory and serves kind for
// it in-process on a loopback port, as the child would. It returns the
// address, the directory and the bearer token ("" without jwt).
func startScenario(t *testing.T, kind string, sc scenario) (addr, dir, token string) {
	t.Helper()
	dir = t.TempDir()
	token, err := prepare(sc, dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := newServer(kind, sc, dir, childOptions{StreamWorkers: -1, CheckTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		srv.close()
	})
	return lis.Addr().String(), dir, token
}

// check sends the scenario's Check to addr and returns the upstream
// headers of an allowed answer.
func check(t *testing.T, addr string, sc scenario, token string) http.Header {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := config{Method: "GET", Host: "demo", Path: sc.path}
	if token != "" {
		c.Headers = headerFlag{{"authorization", "Bearer " + token}}
	}
	resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), checkRequest(&c))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus().GetCode() != 0 || resp.GetOkResponse() == nil {
		t.Fatalf("%s: denied: %v", sc.Name, resp)
	}
	h := http.Header{}
	for _, o := range resp.GetOkResponse().GetHeaders() {
		h.Add(o.GetHeader().GetKey(), o.GetHeader().GetValue())
	}
	return h
}

// TestScenariosDoWhatTheySay sends each gRPC scenario's request to its
// Portcullis server and checks the upstream headers its rule sets: the
// scenario measures what its name and About claim.
func TestScenariosDoWhatTheySay(t *testing.T) {
	tests := []struct {
		scenario string
		want     map[string]string // upstream headers
	}{
		{"anonymous", map[string]string{"X-User": "anonymous"}},
		{"jwt", map[string]string{"X-User": "alice", "X-Tenant": "acme"}},
		{"rules-10", map[string]string{"X-User": "anonymous"}},
		{"rules-100", map[string]string{"X-User": "anonymous"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			sc, err := findScenario(tt.scenario)
			if err != nil {
				t.Fatal(err)
			}
			addr, _, token := startScenario(t, "portcullis", sc)
			h := check(t, addr, sc, token)
			for k, v := range tt.want {
				if got := h.Get(k); got != v {
					t.Errorf("%s: %q, want %q (all: %v)", k, got, v, h)
				}
			}
		})
	}
}

// TestIDTokenScenarioMintsAnES256Token: the id-token scenario's upstream
// gets a token signed with the ES256 key compare wrote, with the claims
// its template says.
func TestIDTokenScenarioMintsAnES256Token(t *testing.T) {
	sc, err := findScenario("id-token")
	if err != nil {
		t.Fatal(err)
	}
	addr, dir, token := startScenario(t, "portcullis", sc)
	raw, ok := strings.CutPrefix(check(t, addr, sc, token).Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatal("no minted token in the upstream Authorization header")
	}
	set, err := jwk.ReadFile(filepath.Join(dir, signingJWKSFile))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicSetOf(set)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pub.Key(0)
	minted, err := jwt.Parse([]byte(raw), jwt.WithKey(jwa.ES256, key), jwt.WithAudience("api://orders"), jwt.WithIssuer("https://gw.test"))
	if err != nil {
		t.Fatalf("minted token does not verify as ES256 from the scenario's key: %v", err)
	}
	tenant, _ := minted.Get("tenant")
	if minted.Subject() != "alice" || tenant != "acme" || minted.Expiration().Sub(minted.IssuedAt()) != time.Hour {
		t.Fatalf("claims: sub %q, tenant %v, lifetime %v", minted.Subject(), tenant, minted.Expiration().Sub(minted.IssuedAt()))
	}
}

// TestHTTPAPIScenario: the http-api Portcullis server answers the decision
// API (200 with the upstream headers for the token, 401 without), and its
// no-op answers 200 to anything.
func TestHTTPAPIScenario(t *testing.T) {
	sc, err := findScenario("http-api")
	if err != nil {
		t.Fatal(err)
	}
	addr, _, token := startScenario(t, "portcullis", sc)
	noop, _, _ := startScenario(t, "noop", sc)
	tests := []struct {
		name   string
		addr   string
		auth   string
		status int
		tenant string
	}{
		{"portcullis with the token", addr, "Bearer " + token, http.StatusOK, "acme"},
		{"portcullis without a token", addr, "", http.StatusUnauthorized, ""},
		{"noop", noop, "", http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", "http://"+tt.addr+"/decisions"+sc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "demo"
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status || resp.Header.Get("X-Tenant") != tt.tenant {
				t.Fatalf("%d, X-Tenant %q; want %d, %q", resp.StatusCode, resp.Header.Get("X-Tenant"), tt.status, tt.tenant)
			}
		})
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

// TestRulesScenarioMatchesTheMiddleRule checks the rules-N generator and
// wiring at small N, and that rules-100000 is the same scenario at scale:
// n rules load, and the scenario's request selects rule n/2.
func TestRulesScenarioMatchesTheMiddleRule(t *testing.T) {
	for _, n := range []int{1, 10, 101} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			sc, err := findScenario(fmt.Sprintf("rules-%d", n))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if _, err := prepare(sc, dir); err != nil {
				t.Fatal(err)
			}
			deps := builtin.NewDeps(nil)
			defer deps.Close()
			cfg, err := serviceConfig()
			if err != nil {
				t.Fatal(err)
			}
			store, err := portcullisStore(cfg, dir, deps, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			snap := store.Current()
			if got := len(snap.Rules()); got != n {
				t.Fatalf("%d rules loaded, want %d", got, n)
			}
			d := snap.Execute(context.Background(), &pipeline.Request{Method: "GET", Scheme: "http", Host: "demo", RawPath: sc.path})
			if want := fmt.Sprintf("r%05d", n/2); !d.Allowed || d.RuleID != want {
				t.Fatalf("allowed %v by %q, want rule %s", d.Allowed, d.RuleID, want)
			}
		})
	}

	// The large scenario: generated, not loaded (too slow under -race).
	sc, err := findScenario("rules-100000")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := sc.writeRules(&b, ""); err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(b.Bytes(), []byte("\n- id: r")) + 1; got != 100_000 || !bytes.HasPrefix(b.Bytes(), []byte("- id: r00000\n")) {
		t.Fatalf("%d rules generated, want 100,000", got)
	}
	if !bytes.Contains(b.Bytes(), []byte("- id: r50000\n  match: {url: \"<http|https>://demo/svc-50000/<.*>\"")) || sc.path != "/svc-50000/x" {
		t.Fatalf("the request %s does not target rule r50000", sc.path)
	}
	if sc.About != "anonymous → allow → header, 100,000 rules, rule 50,001 matches" {
		t.Errorf("about: %q", sc.About)
	}
}
