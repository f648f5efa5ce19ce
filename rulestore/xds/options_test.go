package xds

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/authz/tlsconf/tlstest"
)

func TestParseURL(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "test-ca")
	client := ca.Client(t, "node-a")
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlstest.WriteFile(t, caFile, ca.PEM)
	tlstest.WriteFile(t, certFile, client.CertPEM)
	tlstest.WriteFile(t, keyFile, client.KeyPEM)

	tests := []struct {
		url, target string
		check       func(t *testing.T, o Options)
		err         string
	}{
		{url: "xds://cp:18000", target: "cp:18000", check: func(t *testing.T, o Options) {
			if o.TLS != nil || o.NodeID != "" || o.Cluster != "" || o.InitialFetchTimeout != 0 {
				t.Errorf("defaults %+v", o)
			}
		}},
		{url: "xds://10.0.0.1:18000?node=gw-1&cluster=edge&initial_fetch_timeout=30s&max_message_size=1024", target: "10.0.0.1:18000", check: func(t *testing.T, o Options) {
			if o.NodeID != "gw-1" || o.Cluster != "edge" || o.InitialFetchTimeout != 30*time.Second || o.MaxMessageSize != 1024 {
				t.Errorf("options %+v", o)
			}
		}},
		{url: "xds://cp:18000?tls=true", target: "cp:18000", check: func(t *testing.T, o Options) {
			if o.TLS == nil || o.TLS.RootCAs != nil || o.TLS.GetClientCertificate != nil {
				t.Errorf("want TLS with the system roots, got %+v", o.TLS)
			}
		}},
		{url: "xds://cp:18000?ca=" + caFile + "&cert=" + certFile + "&key=" + keyFile + "&server_name=cp.internal", target: "cp:18000", check: func(t *testing.T, o Options) {
			if o.TLS == nil || o.TLS.RootCAs == nil || o.TLS.GetClientCertificate == nil || o.TLS.ServerName != "cp.internal" {
				t.Errorf("want mutual TLS, got %+v", o.TLS)
			}
		}},
		{url: "xds://cp", err: "want xds://host:port"},
		{url: "xds://cp:18000/rules", err: "options as query parameters"},
		{url: "xds://cp:18000?nodeid=x", err: `unknown option "nodeid"`},
		{url: "xds://cp:18000?tls=yes", err: `tls: "yes" is not true or false`},
		{url: "xds://cp:18000?initial_fetch_timeout=30", err: "initial_fetch_timeout"},
		{url: "xds://cp:18000?cert=" + certFile, err: "cert and key go together"},
		{url: "xds://cp:18000?ca=" + filepath.Join(dir, "missing.pem"), err: "ca: open"},
		{url: "xds://cp:18000?ca=" + keyFile, err: "holds no PEM certificate"},
		{url: "file:///rules", err: "not an xds:// URL"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			target, o, err := ParseURL(tt.url)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || target != tt.target {
				t.Fatalf("target %q, error %v", target, err)
			}
			tt.check(t, o)
		})
	}
}

func TestDefaultNodeIDIsTheHostName(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	if err := o.defaults(); err != nil || o.NodeID != host || o.MinBackoff != DefaultMinBackoff || o.MaxBackoff != DefaultMaxBackoff {
		t.Fatalf("defaults %+v (%v)", o, err)
	}
}

func TestBackoffDoublesWithJitterUpToTheMaximum(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for n, want := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000} {
		want *= time.Millisecond
		for range 200 {
			if d := backoff(n, lo, hi); d < want/2 || d > want {
				t.Fatalf("attempt %d waited %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d := backoff(1000, lo, hi); d < hi/2 || d > hi {
		t.Fatalf("attempt 1000 waited %v", d)
	}
}

func TestNackMessageIsCut(t *testing.T) {
	var errs []error
	for range 2000 {
		errs = append(errs, errors.New(strings.Repeat("x", 100)))
	}
	msg := nackMessage(errors.Join(errs...))
	if len(msg) > maxNackMessage+64 || !strings.HasSuffix(msg, "more errors") {
		t.Fatalf("%d bytes, ending %q", len(msg), msg[len(msg)-40:])
	}
}
