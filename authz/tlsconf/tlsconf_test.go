package tlsconf_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz/tlsconf"
	"github.com/portcullis-authz/portcullis/authz/tlsconf/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds every wait on an event; it only turns a hang into a failure.
const guard = 30 * time.Second

// files is one listener's certificate files in a temporary directory.
type files struct {
	dir, cert, key, ca string
}

func writeFiles(t *testing.T, server tlstest.Pair, clientCA *tlstest.CA) files {
	t.Helper()
	dir := t.TempDir()
	f := files{dir: dir, cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key")}
	tlstest.WriteFile(t, f.cert, server.CertPEM)
	tlstest.WriteFile(t, f.key, server.KeyPEM)
	if clientCA != nil {
		f.ca = filepath.Join(dir, "ca.crt")
		tlstest.WriteFile(t, f.ca, clientCA.PEM)
	}
	return f
}

// watch runs r.Run until the test ends and waits for its first reload,
// after which the watch is in place.
func watch(t *testing.T, r *tlsconf.Reloader, events <-chan tlsconf.Event) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	waitEvent(t, events, func(tlsconf.Event) bool { return true })
}

func waitEvent(t *testing.T, events <-chan tlsconf.Event, want func(tlsconf.Event) bool) tlsconf.Event {
	t.Helper()
	timeout := time.After(guard)
	for {
		select {
		case e := <-events:
			if want(e) {
				return e
			}
		case <-timeout:
			t.Fatal("no matching reload event")
		}
	}
}

// newReloader builds a Reloader whose events arrive on the returned channel.
func newReloader(t *testing.T, o tlsconf.Options) (*tlsconf.Reloader, <-chan tlsconf.Event) {
	t.Helper()
	events := make(chan tlsconf.Event, 64)
	o.Name = "serve.grpc.tls"
	o.Debounce = 10 * time.Millisecond
	o.OnReload = func(e tlsconf.Event) { events <- e }
	r, err := tlsconf.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r, events
}

// serveTLS accepts TLS connections on 127.0.0.1; each completed handshake
// is answered with "ok", so a client sees a refused client certificate as
// a read error even under TLS 1.3.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(guard))
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("ok"))
				}
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

// handshake connects as a client trusting ca and presenting client (if
// any); it returns the server's certificate.
func handshake(t *testing.T, addr string, ca *tlstest.CA, client *tlstest.Pair, edit func(*tls.Config)) (*x509.Certificate, error) {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool()}
	if client != nil {
		// Presented whatever CAs the server names: Go's client would
		// otherwise hold back a certificate the server does not ask for,
		// and the server's verification would go untested.
		cert := client.TLS(t)
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	if edit != nil {
		edit(cfg)
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: guard}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(guard))
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func TestClientCertificates(t *testing.T) {
	ca, other := tlstest.NewCA(t, "portcullis test CA"), tlstest.NewCA(t, "someone else's CA")
	server := ca.Server(t)
	envoy, stranger := ca.Client(t, "envoy"), other.Client(t, "envoy")
	tests := []struct {
		name     string
		clientCA *tlstest.CA
		mode     tls.ClientAuthType
		client   *tlstest.Pair
		wantOK   bool
	}{
		{name: "TLS only: no client certificate", client: nil, wantOK: true},
		{name: "mTLS: no client certificate", clientCA: ca, client: nil},
		{name: "mTLS: certificate from the client CA", clientCA: ca, client: &envoy, wantOK: true},
		{name: "mTLS: certificate from another CA", clientCA: ca, client: &stranger},
		// Same CA, but issued for servers (extended key usage serverAuth).
		{name: "mTLS: server certificate as client certificate", clientCA: ca, client: &server},
		{name: "verify_if_given: no client certificate", clientCA: ca, mode: tls.VerifyClientCertIfGiven, wantOK: true},
		{name: "verify_if_given: certificate from another CA", clientCA: ca, mode: tls.VerifyClientCertIfGiven, client: &stranger},
		{name: "verify_if_given: certificate from the client CA", clientCA: ca, mode: tls.VerifyClientCertIfGiven, client: &envoy, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := writeFiles(t, server, tt.clientCA)
			r, _ := newReloader(t, tlsconf.Options{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.ca, ClientAuth: tt.mode})
			got, err := handshake(t, serveTLS(t, r.TLSConfig()), ca, tt.client, nil)
			if (err == nil) != tt.wantOK {
				t.Fatalf("handshake error %v, want success %v", err, tt.wantOK)
			}
			if err == nil && got.SerialNumber.Cmp(server.Leaf.SerialNumber) != 0 {
				t.Errorf("served serial %x, want %x", got.SerialNumber, server.Leaf.SerialNumber)
			}
		})
	}
}

func TestMinVersion(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	f := writeFiles(t, ca.Server(t), nil)
	tests := []struct {
		name      string
		min       uint16
		clientMax uint16
		wantOK    bool
	}{
		{name: "default accepts 1.2", clientMax: tls.VersionTLS12, wantOK: true},
		{name: "default refuses 1.1", clientMax: tls.VersionTLS11},
		{name: "1.3 refuses 1.2", min: tls.VersionTLS13, clientMax: tls.VersionTLS12},
		{name: "1.3 accepts 1.3", min: tls.VersionTLS13, clientMax: tls.VersionTLS13, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newReloader(t, tlsconf.Options{CertFile: f.cert, KeyFile: f.key, MinVersion: tt.min})
			_, err := handshake(t, serveTLS(t, r.TLSConfig()), ca, nil, func(c *tls.Config) {
				c.MinVersion, c.MaxVersion = tls.VersionTLS10, tt.clientMax
			})
			if (err == nil) != tt.wantOK {
				t.Fatalf("handshake error %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

func TestRotationServesNewCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	old, next := ca.Server(t), ca.Server(t)
	f := writeFiles(t, old, nil)
	r, events := newReloader(t, tlsconf.Options{CertFile: f.cert, KeyFile: f.key})
	addr := serveTLS(t, r.TLSConfig())
	watch(t, r, events)

	// An established connection keeps the certificate it was made with.
	if got, err := handshake(t, addr, ca, nil, nil); err != nil || got.SerialNumber.Cmp(old.Leaf.SerialNumber) != 0 {
		t.Fatalf("before rotation: %v %v", got, err)
	}
	tlstest.WriteFile(t, f.key, next.KeyPEM)
	tlstest.WriteFile(t, f.cert, next.CertPEM)
	waitEvent(t, events, func(e tlsconf.Event) bool { return e.Changed })

	got, err := handshake(t, addr, ca, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.SerialNumber.Cmp(next.Leaf.SerialNumber) != 0 {
		t.Errorf("after rotation: serial %x, want %x", got.SerialNumber, next.Leaf.SerialNumber)
	}
	if r.Leaf().SerialNumber.Cmp(next.Leaf.SerialNumber) != 0 {
		t.Errorf("Leaf() serial %x", r.Leaf().SerialNumber)
	}
}

// A Kubernetes Secret volume holds tls.crt -> ..data/tls.crt and swaps the
// ..data symlink to a new timestamped directory in one rename.
func TestKubernetesSecretSwap(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	old, next := ca.Server(t), ca.Server(t)
	dir := t.TempDir()
	version := func(name string, p tlstest.Pair) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		tlstest.WriteFile(t, filepath.Join(dir, name, "tls.crt"), p.CertPEM)
		tlstest.WriteFile(t, filepath.Join(dir, name, "tls.key"), p.KeyPEM)
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_01_01_00_00_00.1", old)
	for _, n := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	r, events := newReloader(t, tlsconf.Options{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")})
	addr := serveTLS(t, r.TLSConfig())
	watch(t, r, events)

	version("..2026_02_01_00_00_00.2", next)
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, func(e tlsconf.Event) bool { return e.Changed })
	if got, err := handshake(t, addr, ca, nil, nil); err != nil || got.SerialNumber.Cmp(next.Leaf.SerialNumber) != 0 {
		t.Fatalf("after the swap: %v %v", got, err)
	}
}

func TestBrokenRotationKeepsCertificate(t *testing.T) {
	ca, other := tlstest.NewCA(t, "portcullis test CA"), tlstest.NewCA(t, "another CA")
	tests := []struct {
		name    string
		break_  func(t *testing.T, f files)
		wantErr string
	}{
		{name: "certificate not PEM", break_: func(t *testing.T, f files) { tlstest.WriteFile(t, f.cert, []byte("not a certificate")) },
			wantErr: "failed to find any PEM data in certificate input"},
		{name: "key of another certificate", break_: func(t *testing.T, f files) { tlstest.WriteFile(t, f.key, ca.Server(t).KeyPEM) },
			wantErr: "private key does not match public key"},
		{name: "certificate removed", break_: func(t *testing.T, f files) { _ = os.Remove(f.cert) },
			wantErr: "no such file or directory"},
		{name: "client CA bundle emptied", break_: func(t *testing.T, f files) { tlstest.WriteFile(t, f.ca, []byte("\n")) },
			wantErr: "client CA bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := ca.Server(t), ca.Client(t, "envoy")
			f := writeFiles(t, server, ca)
			core, logs := observer.New(zap.InfoLevel)
			events := make(chan tlsconf.Event, 64)
			r, err := tlsconf.New(tlsconf.Options{Name: "serve.grpc.tls", CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.ca,
				Debounce: 10 * time.Millisecond, Log: zap.New(core), OnReload: func(e tlsconf.Event) { events <- e }})
			if err != nil {
				t.Fatal(err)
			}
			addr := serveTLS(t, r.TLSConfig())
			watch(t, r, events)

			tt.break_(t, f)
			e := waitEvent(t, events, func(e tlsconf.Event) bool { return e.Err != nil })
			if !strings.Contains(e.Err.Error(), tt.wantErr) || !strings.HasPrefix(e.Err.Error(), "serve.grpc.tls: ") {
				t.Errorf("error %q, want it to start with the config key and contain %q", e.Err, tt.wantErr)
			}
			if strings.Contains(e.Err.Error(), "PRIVATE KEY") {
				t.Errorf("error quotes key material: %q", e.Err)
			}
			// Logged once however often the same files are looked at.
			for range 3 {
				if err := r.Reload(); err == nil {
					t.Fatal("Reload took broken files")
				}
			}
			if n := logs.FilterMessageSnippet("rejected").Len(); n != 1 {
				t.Errorf("%d rejection lines, want 1", n)
			}
			// The previous certificate and client CA stay in force.
			got, err := handshake(t, addr, ca, &client, nil)
			if err != nil || got.SerialNumber.Cmp(server.Leaf.SerialNumber) != 0 {
				t.Fatalf("after a broken rotation: %v %v", got, err)
			}
			stranger := other.Client(t, "envoy")
			if _, err := handshake(t, addr, ca, &stranger, nil); err == nil {
				t.Error("a client from another CA got in after a broken rotation")
			}
			if reloads, failures := r.Counts(); reloads != 0 || failures < 4 {
				t.Errorf("counts: %d reloads, %d failures", reloads, failures)
			}

			// Mending the files is taken up again.
			next := ca.Server(t)
			tlstest.WriteFile(t, f.key, next.KeyPEM)
			tlstest.WriteFile(t, f.cert, next.CertPEM)
			tlstest.WriteFile(t, f.ca, ca.PEM)
			waitEvent(t, events, func(e tlsconf.Event) bool { return e.Changed })
			if got, err := handshake(t, addr, ca, &client, nil); err != nil || got.SerialNumber.Cmp(next.Leaf.SerialNumber) != 0 {
				t.Fatalf("after mending: %v %v", got, err)
			}
		})
	}
}

func TestClientCARotation(t *testing.T) {
	oldCA, newCA := tlstest.NewCA(t, "old client CA"), tlstest.NewCA(t, "new client CA")
	serverCA := tlstest.NewCA(t, "server CA")
	f := writeFiles(t, serverCA.Server(t), oldCA)
	r, events := newReloader(t, tlsconf.Options{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.ca})
	addr := serveTLS(t, r.TLSConfig())
	watch(t, r, events)
	oldClient, newClient := oldCA.Client(t, "envoy"), newCA.Client(t, "envoy")
	if _, err := handshake(t, addr, serverCA, &oldClient, nil); err != nil {
		t.Fatalf("old client before rotation: %v", err)
	}

	tlstest.WriteFile(t, f.ca, newCA.PEM)
	waitEvent(t, events, func(e tlsconf.Event) bool { return e.Changed })
	if _, err := handshake(t, addr, serverCA, &oldClient, nil); err == nil {
		t.Error("a client of the retired CA still gets in")
	}
	if _, err := handshake(t, addr, serverCA, &newClient, nil); err != nil {
		t.Errorf("client of the new CA: %v", err)
	}
}

func TestInlinePair(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	server := ca.Server(t)
	r, err := tlsconf.New(tlsconf.Options{Name: "serve.api.tls", CertPEM: server.CertPEM, KeyPEM: server.KeyPEM})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := handshake(t, serveTLS(t, r.TLSConfig()), ca, nil, nil); err != nil || got.SerialNumber.Cmp(server.Leaf.SerialNumber) != 0 {
		t.Fatalf("%v %v", got, err)
	}
	// Nothing to watch: Run just waits.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNewRefuses(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	server, otherServer := ca.Server(t), ca.Server(t)
	f := writeFiles(t, server, ca)
	missing := filepath.Join(f.dir, "missing.pem")
	tests := []struct {
		name string
		o    tlsconf.Options
		want string
	}{
		{name: "nothing configured", o: tlsconf.Options{}, want: "serve.grpc.tls: no certificate configured"},
		{name: "certificate without key", o: tlsconf.Options{CertFile: f.cert},
			want: "serve.grpc.tls: a certificate file needs its key file"},
		{name: "missing certificate", o: tlsconf.Options{CertFile: missing, KeyFile: f.key},
			want: "serve.grpc.tls: certificate " + missing + ": no such file or directory"},
		{name: "missing key", o: tlsconf.Options{CertFile: f.cert, KeyFile: missing},
			want: "serve.grpc.tls: key " + missing + ": no such file or directory"},
		{name: "missing client CA bundle", o: tlsconf.Options{CertFile: f.cert, KeyFile: f.key, ClientCAFile: missing},
			want: "serve.grpc.tls: client CA bundle " + missing + ": no such file or directory"},
		{name: "mismatched inline pair", o: tlsconf.Options{CertPEM: server.CertPEM, KeyPEM: otherServer.KeyPEM},
			want: "serve.grpc.tls: certificate (inline) with key (inline): private key does not match public key"},
		{name: "client CA bundle holding no certificate", o: tlsconf.Options{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.key},
			want: "serve.grpc.tls: client CA bundle " + f.key + ": no PEM certificate in it"},
		{name: "client auth mode that does not verify", o: tlsconf.Options{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.ca, ClientAuth: tls.RequireAnyClientCert},
			want: "serve.grpc.tls: client auth mode must verify the client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Name = "serve.grpc.tls"
			_, err := tlsconf.New(tt.o)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestALPN(t *testing.T) {
	ca := tlstest.NewCA(t, "portcullis test CA")
	f := writeFiles(t, ca.Server(t), nil)
	r, _ := newReloader(t, tlsconf.Options{CertFile: f.cert, KeyFile: f.key, NextProtos: []string{"h2", "http/1.1"}})
	cfg := &tls.Config{RootCAs: ca.Pool(), NextProtos: []string{"h2"}}
	c, err := tls.Dial("tcp", serveTLS(t, r.TLSConfig()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Errorf("negotiated %q, want h2", p)
	}
}
