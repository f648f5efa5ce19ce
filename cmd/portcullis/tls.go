package main

import (
	"crypto/tls"
	"errors"
	"net"

	"go.uber.org/zap"

	"github.com/portcullis-authz/portcullis/authz/tlsconf"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// listenersTLS builds the TLS of every listener that has a certificate,
// keyed "grpc", "api" and "metrics"; a plaintext listener has no entry.
// Every file is read here, so a listener never starts on a broken pair.
// log may be nil (config validate).
func listenersTLS(s config.Serve, log *zap.Logger) (map[string]*tlsconf.Reloader, error) {
	if log == nil {
		log = zap.NewNop()
	}
	httpProtos := []string{"h2", "http/1.1"}
	out := map[string]*tlsconf.Reloader{}
	var errs []error
	for _, l := range []struct {
		name   string
		tls    config.TLS
		protos []string // gRPC's credentials add h2 themselves
	}{{"grpc", s.GRPC.TLS, nil}, {"api", s.API.TLS, httpProtos}, {"metrics", s.Metrics.TLS, httpProtos}} {
		if !l.tls.Enabled() {
			continue
		}
		r, err := listenerTLS("serve."+l.name+".tls", l.tls, l.protos, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[l.name] = r
		leaf := r.Leaf()
		log.Info("TLS on", zap.String("server", l.name), zap.Bool("client_certificates", l.tls.ClientCAFile != ""),
			zap.String("subject", leaf.Subject.String()), zap.Time("not_after", leaf.NotAfter))
	}
	return out, errors.Join(errs...)
}

func listenerTLS(key string, t config.TLS, protos []string, log *zap.Logger) (*tlsconf.Reloader, error) {
	certPEM, keyPEM, err := t.InlinePEM(key)
	if err != nil {
		return nil, err
	}
	o := tlsconf.Options{Name: key, CertPEM: certPEM, KeyPEM: keyPEM, ClientCAFile: t.ClientCAFile,
		MinVersion: tls.VersionTLS12, NextProtos: protos, Log: log}
	o.CertFile, o.KeyFile = t.Files()
	if t.MinVersion == "1.3" {
		o.MinVersion = tls.VersionTLS13
	}
	if t.ClientAuth == "verify_if_given" {
		o.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tlsconf.New(o)
}

// tlsConfig is r's configuration, nil for a plaintext listener.
func tlsConfig(r *tlsconf.Reloader) *tls.Config {
	if r == nil {
		return nil
	}
	return r.TLSConfig()
}

// tlsListener wraps the HTTP listener serve.<name> in its TLS; gRPC
// takes its TLS as server credentials instead, so it is left as is.
func tlsListener(name string, l net.Listener, tlsOf map[string]*tlsconf.Reloader) net.Listener {
	if r := tlsOf[name]; r != nil && name != "grpc" {
		return tls.NewListener(l, r.TLSConfig())
	}
	return l
}
