package config_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

const (
	testCertPEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	testKeyPEM  = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
)

// tlsView is what serve reads of a listener's TLS block.
type tlsView struct {
	Enabled             bool
	CertFile, KeyFile   string
	CertPEM, KeyPEM     string
	ClientCA, Auth, Min string
}

func viewTLS(t *testing.T, prefix string, c config.TLS) tlsView {
	t.Helper()
	certPEM, keyPEM, err := c.InlinePEM(prefix)
	if err != nil {
		t.Fatal(err)
	}
	v := tlsView{Enabled: c.Enabled(), CertPEM: string(certPEM), KeyPEM: string(keyPEM), ClientCA: c.ClientCAFile, Auth: c.ClientAuth, Min: c.MinVersion}
	v.CertFile, v.KeyFile = c.Files()
	return v
}

func TestTLSConfig(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	wrapped := func(s string) string { // as `base64` prints it: 76 columns, padding dropped
		e := strings.TrimRight(b64(s), "=")
		return e[:76] + "\n" + e[76:]
	}
	tests := []struct {
		name     string
		yaml     string
		env      []string
		listener func(*config.Config) config.TLS
		prefix   string
		want     tlsView
	}{
		{name: "plaintext by default", listener: grpcTLS, prefix: "serve.grpc.tls", want: tlsView{Min: "1.2"}},
		{name: "gRPC mTLS", prefix: "serve.grpc.tls", listener: grpcTLS,
			yaml: "serve:\n  grpc:\n    tls:\n      cert_file: /tls/tls.crt\n      key_file: /tls/tls.key\n      client_ca_file: /tls/ca.crt\n      client_auth: verify_if_given\n      min_version: \"1.3\"\n",
			want: tlsView{Enabled: true, CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key", ClientCA: "/tls/ca.crt", Auth: "verify_if_given", Min: "1.3"}},
		{name: "Oathkeeper's serve.api.tls paths", prefix: "serve.api.tls", listener: apiTLS,
			yaml: "serve:\n  api:\n    tls:\n      key: {path: /tls/tls.key}\n      cert: {path: /tls/tls.crt}\n",
			want: tlsView{Enabled: true, CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key", Min: "1.2"}},
		{name: "Oathkeeper's serve.api.tls inline", prefix: "serve.api.tls", listener: apiTLS,
			yaml: "serve:\n  api:\n    tls:\n      key: {base64: " + b64(testKeyPEM) + "}\n      cert: {base64: " + b64(testCertPEM) + "}\n",
			want: tlsView{Enabled: true, CertPEM: testCertPEM, KeyPEM: testKeyPEM, Min: "1.2"}},
		{name: "inline wins over paths, as in Oathkeeper", prefix: "serve.api.tls", listener: apiTLS,
			yaml: "serve:\n  api:\n    tls:\n      key: {path: /k, base64: " + b64(testKeyPEM) + "}\n      cert: {path: /c, base64: " + b64(testCertPEM) + "}\n",
			want: tlsView{Enabled: true, CertPEM: testCertPEM, KeyPEM: testKeyPEM, Min: "1.2"}},
		{name: "inline without padding, wrapped", prefix: "serve.api.tls", listener: apiTLS,
			yaml: "serve:\n  api:\n    tls:\n      key: {base64: \"" + strings.ReplaceAll(wrapped(testKeyPEM), "\n", `\n`) + "\"}\n      cert: {base64: " + strings.TrimRight(b64(testCertPEM), "=") + "}\n",
			want: tlsView{Enabled: true, CertPEM: testCertPEM, KeyPEM: testKeyPEM, Min: "1.2"}},
		{name: "same file under both spellings", prefix: "serve.metrics.tls", listener: metricsTLS,
			yaml: "serve:\n  metrics:\n    tls:\n      cert_file: /c\n      cert: {path: /c}\n      key_file: /k\n",
			want: tlsView{Enabled: true, CertFile: "/c", KeyFile: "/k", Min: "1.2"}},
		{name: "environment, both spellings", prefix: "serve.api.tls", listener: apiTLS,
			env:  []string{"PORTCULLIS_SERVE_API_TLS_KEY_PATH=/env/k", "PORTCULLIS_SERVE_API_TLS_CERT_PATH=/env/c", "PORTCULLIS_SERVE_API_TLS_CLIENT_CA_FILE=/env/ca", "PORTCULLIS_SERVE_API_TLS_MIN_VERSION=1.3"},
			want: tlsView{Enabled: true, CertFile: "/env/c", KeyFile: "/env/k", ClientCA: "/env/ca", Min: "1.3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, warnings, err := config.Load("c.yaml", []byte(tt.yaml+"\n"), tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if diff := cmp.Diff(tt.want, viewTLS(t, tt.prefix, tt.listener(cfg))); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func grpcTLS(c *config.Config) config.TLS    { return c.Serve.GRPC.TLS }
func apiTLS(c *config.Config) config.TLS     { return c.Serve.API.TLS }
func metricsTLS(c *config.Config) config.TLS { return c.Serve.Metrics.TLS }

// Oathkeeper's reference config sets serve.api.tls; it was ignored with a
// warning and is now the API listener's TLS (inline wins, as there).
func TestReferenceConfigAPITLSIsHonoured(t *testing.T) {
	cfg, warnings, err := config.Load("../../../rulestore/testdata/oathkeeper/reference-config/oathkeeper.reference.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(warnings, "\n"), "serve.api.tls") {
		t.Errorf("serve.api.tls still reported as ignored: %q", warnings)
	}
	tls := cfg.Serve.API.TLS
	if !tls.Enabled() || tls.Cert.Path != "/path/to/cert.pem" || tls.Key.Path != "/path/to/key.pem" {
		t.Errorf("serve.api.tls = %+v", tls)
	}
	// The reference's base64 values are elided ("..."): serve refuses them.
	_, _, err = tls.InlinePEM("serve.api.tls")
	want := "serve.api.tls.cert.base64: not base64-encoded PEM\nserve.api.tls.key.base64: not base64-encoded PEM"
	if err == nil || err.Error() != want {
		t.Errorf("InlinePEM error %v, want %s", err, want)
	}
	if cfg.Serve.GRPC.TLS.Enabled() {
		t.Error("serve.proxy.tls must not turn on TLS anywhere")
	}
}

func TestTLSConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"certificate without key", "serve:\n  grpc:\n    tls:\n      cert_file: /c\n",
			"c.yaml:3: serve.grpc.tls.key_file: is needed with a certificate file"},
		{"key without certificate", "serve:\n  api:\n    tls:\n      key: {path: /k}\n",
			"c.yaml:3: serve.api.tls.cert_file: is needed with a key file"},
		{"one inline half", "serve:\n  api:\n    tls:\n      cert: {base64: QUJD}\n      key: {path: /k}\n",
			"c.yaml:5: serve.api.tls.key.base64: is needed with cert.base64"},
		{"two certificate files", "serve:\n  api:\n    tls:\n      cert_file: /a\n      cert: {path: /b}\n      key_file: /k\n",
			"c.yaml:5: serve.api.tls.cert.path: cert_file names another file; set one of them"},
		{"client CA without certificate", "serve:\n  grpc:\n    tls:\n      client_ca_file: /ca\n",
			"c.yaml:4: serve.grpc.tls.client_ca_file: needs the listener's own certificate (cert_file and key_file)"},
		{"client_auth without client CA", "serve:\n  grpc:\n    tls: {cert_file: /c, key_file: /k, client_auth: require}\n",
			"c.yaml:3: serve.grpc.tls.client_auth: needs client_ca_file, the CAs client certificates are verified against"},
		{"unknown client_auth", "serve:\n  grpc:\n    tls:\n      cert_file: /c\n      key_file: /k\n      client_ca_file: /ca\n      client_auth: request\n",
			`c.yaml:7: serve.grpc.tls.client_auth: unknown mode "request" (use "require" or "verify_if_given")`},
		{"TLS 1.1", "serve:\n  metrics:\n    tls:\n      min_version: \"1.1\"\n",
			`c.yaml:4: serve.metrics.tls.min_version: "1.1" is not offered (use "1.2" or "1.3")`},
		{"misspelt key", "serve:\n  grpc:\n    tls:\n      cert_fil: /c\n",
			`c.yaml:4: serve.grpc.tls.cert_fil: unknown key (did you mean "serve.grpc.tls.cert_file"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := config.Load("c.yaml", []byte(tt.yaml), nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
		})
	}
}
