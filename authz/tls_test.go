package authz_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/authz/tlsconf"
	"github.com/portcullis-authz/portcullis/authz/tlsconf/tlstest"
)

// tlsFiles writes a server pair (and a client CA bundle) and returns the
// reloader serving them, with its reload events.
func tlsFiles(t *testing.T, server tlstest.Pair, clientCA *tlstest.CA, nextProtos []string) (*tlsconf.Reloader, string, <-chan tlsconf.Event) {
	t.Helper()
	dir := t.TempDir()
	o := tlsconf.Options{Name: "serve.grpc.tls", CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		NextProtos: nextProtos, Debounce: 10 * time.Millisecond}
	tlstest.WriteFile(t, o.CertFile, server.CertPEM)
	tlstest.WriteFile(t, o.KeyFile, server.KeyPEM)
	if clientCA != nil {
		o.ClientCAFile = filepath.Join(dir, "ca.crt")
		tlstest.WriteFile(t, o.ClientCAFile, clientCA.PEM)
	}
	events := make(chan tlsconf.Event, 64)
	o.OnReload = func(e tlsconf.Event) { events <- e }
	r, err := tlsconf.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, dir, events
}

// startGRPC runs the real gRPC server with o on a loopback port.
func startGRPC(t *testing.T, o authz.GRPCOptions) string {
	t.Helper()
	st := &store{}
	st.s.Store(snapshot(t))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.StopTimeout = time.Second
	srv := authz.NewGRPCServer(authz.NewChecker(st, zap.NewNop(), nil, testBudget), zap.NewNop(), o)
	srv.SetServing(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return lis.Addr().String()
}

// clientTLS trusts ca and presents client, if any, whatever CAs the server
// names (Go would otherwise hold back a certificate the server does not
// ask for, and the server's verification would go untested).
func clientTLS(t *testing.T, ca *tlstest.CA, client *tlstest.Pair) *tls.Config {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool()}
	if client != nil {
		cert := client.TLS(t)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return cfg
}

// tlsCheck sends one Check for /public/x over creds and returns the
// server certificate it saw.
func tlsCheck(t *testing.T, addr string, creds credentials.TransportCredentials) (*x509.Certificate, error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var p peer.Peer
	resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, checkReq("GET", "/public/x", nil), grpc.Peer(&p))
	if err != nil {
		return nil, err
	}
	if resp.GetStatus().GetCode() != int32(code.Code_OK) {
		t.Fatalf("check over TLS: %v", resp.GetStatus())
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		t.Fatalf("peer auth info %T, want TLS", p.AuthInfo)
	}
	return info.State.PeerCertificates[0], nil
}

func TestCheckOverTLSAndMTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t, "portcullis test CA"), tlstest.NewCA(t, "someone else's CA")
	server := ca.Server(t)
	envoy, stranger := ca.Client(t, "envoy"), other.Client(t, "envoy")
	tests := []struct {
		name     string
		clientCA *tlstest.CA
		creds    credentials.TransportCredentials
		wantOK   bool
	}{
		{name: "TLS", creds: credentials.NewTLS(clientTLS(t, ca, nil)), wantOK: true},
		{name: "TLS: plaintext client", creds: insecure.NewCredentials()},
		{name: "TLS: client not trusting the server's CA", creds: credentials.NewTLS(clientTLS(t, other, nil))},
		{name: "mTLS: client certificate from the client CA", clientCA: ca, creds: credentials.NewTLS(clientTLS(t, ca, &envoy)), wantOK: true},
		{name: "mTLS: no client certificate", clientCA: ca, creds: credentials.NewTLS(clientTLS(t, ca, nil))},
		{name: "mTLS: client certificate from another CA", clientCA: ca, creds: credentials.NewTLS(clientTLS(t, ca, &stranger))},
		{name: "mTLS: plaintext client", clientCA: ca, creds: insecure.NewCredentials()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := tlsFiles(t, server, tt.clientCA, nil)
			addr := startGRPC(t, authz.GRPCOptions{TLS: r.TLSConfig()})
			got, err := tlsCheck(t, addr, tt.creds)
			if (err == nil) != tt.wantOK {
				t.Fatalf("check error %v, want success %v", err, tt.wantOK)
			}
			if err == nil && got.SerialNumber.Cmp(server.Leaf.SerialNumber) != 0 {
				t.Errorf("served serial %x", got.SerialNumber)
			}
		})
	}
}

// A rotated certificate reaches new gRPC connections without a restart.
func TestGRPCCertificateRotation(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	old, next := ca.Server(t), ca.Server(t)
	envoy := ca.Client(t, "envoy")
	r, dir, events := tlsFiles(t, old, ca, nil)
	addr := startGRPC(t, authz.GRPCOptions{TLS: r.TLSConfig()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-events // watching

	creds := credentials.NewTLS(clientTLS(t, ca, &envoy))
	if got, err := tlsCheck(t, addr, creds); err != nil || got.SerialNumber.Cmp(old.Leaf.SerialNumber) != 0 {
		t.Fatalf("before rotation: %v %v", got, err)
	}
	tlstest.WriteFile(t, filepath.Join(dir, "tls.key"), next.KeyPEM)
	tlstest.WriteFile(t, filepath.Join(dir, "tls.crt"), next.CertPEM)
	for changed := false; !changed; {
		select {
		case e := <-events:
			changed = e.Changed
		case <-time.After(30 * time.Second): // a hang guard, not a wait
			t.Fatal("the rotation was never taken")
		}
	}
	if got, err := tlsCheck(t, addr, creds); err != nil || got.SerialNumber.Cmp(next.Leaf.SerialNumber) != 0 {
		t.Fatalf("after rotation: %v %v", got, err)
	}
}

// startAPI serves the HTTP API on a TLS listener, as serve does.
func startAPI(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	st := &store{}
	st.s.Store(snapshot(t))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		c := authz.NewChecker(st, zap.NewNop(), nil, testBudget)
		h := authz.NewAPIHandler(st, nil, authz.APIOptions{Decisions: c.Decisions(authz.DecisionsOptions{})})
		done <- authz.ServeHTTP(ctx, tls.NewListener(lis, cfg), h, zap.NewNop())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return lis.Addr().String()
}

func TestAPIOverTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t, "portcullis test CA"), tlstest.NewCA(t, "someone else's CA")
	server := ca.Server(t)
	envoy, stranger := ca.Client(t, "envoy"), other.Client(t, "envoy")
	tests := []struct {
		name       string
		clientCA   *tlstest.CA
		scheme     string
		client     *tlstest.Pair
		http2      bool
		wantStatus int // 0: the request fails
	}{
		{name: "HTTPS", scheme: "https", wantStatus: 200},
		{name: "HTTPS over HTTP/2", scheme: "https", http2: true, wantStatus: 200},
		// Go's server answers a plaintext request on a TLS port with a 400.
		{name: "plain HTTP to the TLS port", scheme: "http", wantStatus: 400},
		{name: "mTLS: client certificate from the client CA", clientCA: ca, scheme: "https", client: &envoy, wantStatus: 200},
		{name: "mTLS: no client certificate", clientCA: ca, scheme: "https"},
		{name: "mTLS: client certificate from another CA", clientCA: ca, scheme: "https", client: &stranger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := tlsFiles(t, server, tt.clientCA, []string{"h2", "http/1.1"})
			addr := startAPI(t, r.TLSConfig())
			tr := &http.Transport{TLSClientConfig: clientTLS(t, ca, tt.client), ForceAttemptHTTP2: tt.http2}
			t.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			resp, err := c.Get(tt.scheme + "://" + addr + "/health/alive")
			if tt.wantStatus == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("status %d, want the request refused", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.http2 && resp.ProtoMajor != 2 {
				t.Errorf("protocol %s, want HTTP/2", resp.Proto)
			}
		})
	}
}

// Without X-Forwarded-Proto, a decision call that came over TLS judges an
// https:// URL, as in Oathkeeper: the rules here only match https.
func TestDecisionsOverTLSJudgeHTTPS(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	r, _, _ := tlsFiles(t, ca.Server(t), nil, []string{"h2", "http/1.1"})
	addr := startAPI(t, r.TLSConfig())
	tr := &http.Transport{TLSClientConfig: clientTLS(t, ca, nil)}
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequest("GET", "https://"+addr+"/decisions/public/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "api.test"
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-User") != "anonymous" {
		t.Fatalf("status %d, X-User %q: want the https rule to allow", resp.StatusCode, resp.Header.Get("X-User"))
	}
}
