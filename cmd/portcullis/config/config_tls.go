package config

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// TLS is serve.<listener>.tls. Without a certificate the listener is
// plaintext. Files are re-read when they change; see authz/tlsconf.
type TLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// ClientCAFile turns on mutual TLS: clients must present a
	// certificate issued by one of these CAs.
	ClientCAFile string `json:"client_ca_file"`
	// ClientAuth is "require" (the default with client_ca_file) or
	// "verify_if_given" (a client without a certificate gets in, one with a
	// certificate must pass verification).
	ClientAuth string `json:"client_auth"`
	// MinVersion is "1.2" (default; "" means the same) or "1.3".
	MinVersion string `json:"min_version"`
	// Cert and Key are Oathkeeper's spelling: {path: ...} or {base64: ...}
	// (base64 of the PEM). When both base64 values are set they win over
	// the paths, as in Oathkeeper.
	Cert PEMSource `json:"cert"`
	Key  PEMSource `json:"key"`
}

// PEMSource is Oathkeeper's reference to a PEM file or its inline content.
type PEMSource struct {
	Path   string `json:"path"`
	Base64 string `json:"base64"`
}

// Enabled reports whether the listener serves TLS.
func (t TLS) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.Cert != (PEMSource{}) || t.Key != (PEMSource{})
}

// inline reports whether the pair comes from cert.base64 and key.base64.
func (t TLS) inline() bool { return t.Cert.Base64 != "" && t.Key.Base64 != "" }

// Files returns the certificate and key files; both are empty when the
// pair is inline.
func (t TLS) Files() (cert, key string) {
	if t.inline() {
		return "", ""
	}
	return cmp.Or(t.CertFile, t.Cert.Path), cmp.Or(t.KeyFile, t.Key.Path)
}

// InlinePEM decodes cert.base64 and key.base64 (nil, nil when the pair
// comes from files). prefix is the listener's key, e.g. "serve.api.tls".
// Padding and line breaks are optional: Oathkeeper's own help asks for
// base64 without padding, and `base64` wraps its output.
func (t TLS) InlinePEM(prefix string) (cert, key []byte, err error) {
	if !t.inline() {
		return nil, nil, nil
	}
	decode := func(field, s string) []byte {
		s = strings.Join(strings.Fields(s), "")
		b, derr := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
		if derr != nil {
			err = errors.Join(err, fmt.Errorf("%s.%s.base64: not base64-encoded PEM", prefix, field))
		}
		return b
	}
	cert, key = decode("cert", t.Cert.Base64), decode("key", t.Key.Base64)
	return cert, key, err
}

// tlsDefaults names every TLS key, so that PORTCULLIS_SERVE_API_TLS_KEY_PATH
// and PORTCULLIS_SERVE_GRPC_TLS_CLIENT_CA_FILE resolve to their keys.
func tlsDefaults() map[string]any {
	d := map[string]any{}
	for _, l := range []string{"grpc", "api", "metrics"} {
		p := "serve." + l + ".tls."
		for _, k := range []string{"cert_file", "key_file", "client_ca_file", "client_auth", "cert.path", "cert.base64", "key.path", "key.base64"} {
			d[p+k] = ""
		}
		d[p+"min_version"] = "1.2"
	}
	return d
}

// validateTLS checks every listener's TLS block; files are read when the
// listener starts (Oathkeeper's reference config names files that do not
// exist and loads all the same).
func (s Serve) validateTLS() []error {
	var errs []error
	for _, l := range []struct {
		prefix string
		t      TLS
	}{{"serve.grpc.tls", s.GRPC.TLS}, {"serve.api.tls", s.API.TLS}, {"serve.metrics.tls", s.Metrics.TLS}} {
		errs = append(errs, l.t.validate(l.prefix)...)
	}
	return errs
}

func (t TLS) validate(p string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", p, key, fmt.Sprintf(format, args...)))
	}
	if t.CertFile != "" && t.Cert.Path != "" && t.CertFile != t.Cert.Path {
		bad("cert.path", "cert_file names another file; set one of them")
	}
	if t.KeyFile != "" && t.Key.Path != "" && t.KeyFile != t.Key.Path {
		bad("key.path", "key_file names another file; set one of them")
	}
	if !t.inline() {
		cert, key := t.Files()
		switch {
		case t.Cert.Base64 != "":
			bad("key.base64", "is needed with cert.base64")
		case t.Key.Base64 != "":
			bad("cert.base64", "is needed with key.base64")
		case cert != "" && key == "":
			bad("key_file", "is needed with a certificate file")
		case key != "" && cert == "":
			bad("cert_file", "is needed with a key file")
		}
	}
	switch t.ClientAuth {
	case "", "require", "verify_if_given":
	default:
		bad("client_auth", "unknown mode %q (use \"require\" or \"verify_if_given\")", t.ClientAuth)
	}
	if t.ClientAuth != "" && t.ClientCAFile == "" {
		bad("client_auth", "needs client_ca_file, the CAs client certificates are verified against")
	}
	if t.ClientCAFile != "" && !t.Enabled() {
		bad("client_ca_file", "needs the listener's own certificate (cert_file and key_file)")
	}
	switch t.MinVersion {
	case "", "1.2", "1.3": // "": a serve block that did not decode has its own error
	default:
		bad("min_version", "%q is not offered (use \"1.2\" or \"1.3\")", t.MinVersion)
	}
	return errs
}
