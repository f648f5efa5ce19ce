package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/authz/tlsconf/tlstest"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

func TestConfigValidateReadsCertificateFiles(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	server, other := ca.Server(t), ca.Server(t)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"tls.crt": server.CertPEM, "tls.key": server.KeyPEM, "other.key": other.KeyPEM, "ca.crt": ca.PEM} {
		tlstest.WriteFile(t, filepath.Join(dir, name), data)
	}
	tests := []struct {
		name       string
		serve      string
		wantStdout string
		wantStderr []string
	}{
		{name: "good files", wantStdout: "config OK\n",
			serve: "  grpc:\n    tls: {cert_file: DIR/tls.crt, key_file: DIR/tls.key, client_ca_file: DIR/ca.crt}\n  api:\n    tls: {cert: {path: DIR/tls.crt}, key: {path: DIR/tls.key}}\n"},
		{name: "missing and mismatched files",
			serve: "  grpc:\n    tls: {cert_file: DIR/missing.crt, key_file: DIR/tls.key}\n  api:\n    tls: {cert: {path: DIR/tls.crt}, key: {path: DIR/other.key}}\n  metrics:\n    tls: {cert_file: DIR/tls.crt, key_file: DIR/tls.key, client_ca_file: DIR/tls.key}\n",
			wantStderr: []string{
				"CFG: serve.grpc.tls: certificate DIR/missing.crt: no such file or directory",
				"CFG: serve.api.tls: certificate DIR/tls.crt with key DIR/other.key: private key does not match public key",
				"CFG: serve.metrics.tls: client CA bundle DIR/tls.key: no PEM certificate in it",
				"portcullis: config validate: 3 errors",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgPath := filepath.Join(dir, "config.yaml")
			tlstest.WriteFile(t, cfgPath, []byte("serve:\n"+strings.ReplaceAll(tt.serve, "DIR", dir)))
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"config", "validate", "--config", cfgPath}, &stdout, &stderr)
			if (code == 0) != (tt.wantStderr == nil) || stdout.String() != tt.wantStdout {
				t.Errorf("exit %d, stdout %q", code, stdout.String())
			}
			var want, got []string
			for _, l := range tt.wantStderr {
				want = append(want, strings.NewReplacer("CFG", cfgPath, "DIR", dir).Replace(l))
			}
			if s := strings.TrimSuffix(stderr.String(), "\n"); s != "" {
				got = strings.Split(s, "\n")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// Oathkeeper's inline serve.api.tls (base64 of the PEM) serves TLS.
func TestOathkeeperInlineAPITLS(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	server := ca.Server(t)
	b64 := base64.StdEncoding.EncodeToString
	cfg, _, err := config.Load("c.yaml", []byte("serve:\n  api:\n    tls:\n      cert: {base64: "+b64(server.CertPEM)+"}\n      key: {base64: "+b64(server.KeyPEM)+"}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tlsOf, err := listenersTLS(cfg.Serve, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tlsOf["grpc"] != nil || tlsOf["metrics"] != nil || tlsOf["api"] == nil {
		t.Fatalf("TLS on %v, want the API only", tlsOf)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", tlsOf["api"].TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(server.Leaf.SerialNumber) != 0 {
		t.Errorf("served serial %x", got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
