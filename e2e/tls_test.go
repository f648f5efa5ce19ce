package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/portcullis-authz/portcullis/authz/tlsconf/tlstest"
)

// dialCreds opens a gRPC client connection to the process with creds.
func (p *process) dialCreds(t *testing.T, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// mtlsCreds trusts ca and presents client, if any, whatever CAs the
// server names.
func mtlsCreds(t *testing.T, ca *tlstest.CA, client *tlstest.Pair) credentials.TransportCredentials {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool()}
	if client != nil {
		cert := client.TLS(t)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return credentials.NewTLS(cfg)
}

// serverCert returns the certificate the server showed on a new
// connection that passes a Check.
func serverCert(t *testing.T, p *process, creds credentials.TransportCredentials) *x509.Certificate {
	t.Helper()
	var pr peer.Peer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := authv3.NewAuthorizationClient(p.dialCreds(t, creds)).Check(ctx, envoyRequest("GET", "/public/1", nil, false), grpc.Peer(&pr)); err != nil {
		t.Fatal(err)
	}
	return pr.AuthInfo.(credentials.TLSInfo).State.PeerCertificates[0]
}

func TestGRPCOverMutualTLS(t *testing.T) {
	ca, other := tlstest.NewCA(t, "portcullis e2e CA"), tlstest.NewCA(t, "someone else's CA")
	server, envoy := ca.Server(t), ca.Client(t, "envoy")
	dir := setup(t, allowRules)
	tlsDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM, "ca.crt": ca.PEM} {
		writeFile(t, filepath.Join(tlsDir, name), string(data))
	}
	writeFile(t, filepath.Join(dir, "config.yaml"), config+"serve:\n  grpc:\n    tls:\n      cert_file: tls/tls.crt\n      key_file: tls/tls.key\n      client_ca_file: tls/ca.crt\n")
	p := startPortcullis(t, dir, "serve", "--config", "config.yaml")

	conn := p.dialCreds(t, mtlsCreds(t, ca, &envoy))
	if o := check(t, authv3.NewAuthorizationClient(conn), envoyRequest("GET", "/public/7", nil, false)); o.status != 200 || o.header["x-item"] != "7" {
		t.Fatalf("check over mTLS: %+v", o)
	}
	// Envoy's health checks go over the same TLS settings.
	hr, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health over mTLS: %v %v", hr, err)
	}

	stranger := other.Client(t, "envoy")
	for name, creds := range map[string]credentials.TransportCredentials{
		"no client certificate":               mtlsCreds(t, ca, nil),
		"client certificate from another CA":  mtlsCreds(t, ca, &stranger),
		"plaintext":                           insecure.NewCredentials(),
		"client not trusting the server's CA": mtlsCreds(t, other, &envoy),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := authv3.NewAuthorizationClient(p.dialCreds(t, creds)).Check(ctx, envoyRequest("GET", "/public/1", nil, false)); err == nil {
				t.Fatal("check answered")
			}
		})
	}

	// Rotation without a restart: the next connection sees the new
	// certificate.
	next := ca.Server(t)
	writeFile(t, filepath.Join(tlsDir, "tls.key"), string(next.KeyPEM))
	writeFile(t, filepath.Join(tlsDir, "tls.crt"), string(next.CertPEM))
	p.waitLog(t, `"msg":"certificate reloaded"`)
	if got := serverCert(t, p, mtlsCreds(t, ca, &envoy)); got.SerialNumber.Cmp(next.Leaf.SerialNumber) != 0 {
		t.Fatalf("after rotation: serial %x, want %x", got.SerialNumber, next.Leaf.SerialNumber)
	}
}

func TestBrokenCertificateAtStartupExitsNonZero(t *testing.T) {
	dir := setup(t, allowRules)
	writeFile(t, filepath.Join(dir, "config.yaml"), config+"serve:\n  grpc:\n    tls: {cert_file: missing.crt, key_file: missing.key}\n")
	out, code := run(t, dir, "serve", "--config", "config.yaml")
	if code == 0 || !strings.Contains(out, "serve.grpc.tls: certificate missing.crt: no such file or directory") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
