package xds_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/portcullis-authz/portcullis/authz/tlsconf"
	"github.com/portcullis-authz/portcullis/authz/tlsconf/tlstest"
	"github.com/portcullis-authz/portcullis/rulestore/xds"
	"github.com/portcullis-authz/portcullis/rulestore/xdsserver"
)

// An instance with the control plane's CA and a client certificate
// gets its rules over mutual TLS; one without a certificate does not.
func TestRulesOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "mesh-ca")
	server, client := ca.Server(t), ca.Client(t, "gw-1")
	files := map[string][]byte{"ca.pem": ca.PEM, "server.pem": server.CertPEM, "server-key.pem": server.KeyPEM,
		"client.pem": client.CertPEM, "client-key.pem": client.KeyPEM}
	for name, data := range files {
		tlstest.WriteFile(t, filepath.Join(dir, name), data)
	}
	certs, err := tlsconf.New(tlsconf.Options{Name: "test", CertFile: filepath.Join(dir, "server.pem"),
		KeyFile: filepath.Join(dir, "server-key.pem"), ClientCAFile: filepath.Join(dir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := xdsserver.New(ctx, xdsserver.Options{})
	if err := srv.SetRules(ctx, set("v1", "a"), nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis, grpc.Creds(credentials.NewTLS(certs.TLSConfig()))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})

	url := "xds://" + lis.Addr().String() + "?node=gw-1&ca=" + filepath.Join(dir, "ca.pem") +
		"&cert=" + filepath.Join(dir, "client.pem") + "&key=" + filepath.Join(dir, "client-key.pem")
	_, o, err := xds.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	startNode(t, url, o).waitApplied(t, "v1")

	_, o, err = xds.ParseURL("xds://" + lis.Addr().String() + "?node=anon&ca=" + filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	anon := startNode(t, "xds://"+lis.Addr().String(), o)
	anon.waitStatus(t, "refused", func(st xds.Status) bool { return st.LastError != "" && !st.Connected })
	if anon.store.Current() != nil {
		t.Fatal("rules reached an instance without a client certificate")
	}
}
