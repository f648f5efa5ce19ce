package xds

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
)

// Defaults of Options.
const (
	DefaultMinBackoff     = 250 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxMessageSize = 64 << 20
)

// Options configure a Source. The zero value works: node id = host
// name, plaintext, wait for rules without a time limit.
type Options struct {
	// NodeID names this instance to the control plane (default: the host
	// name).
	NodeID string
	// Cluster selects the control plane's rule set for this instance's
	// group; "" is the default set.
	Cluster string
	// TLS, when set, secures the connection; nil is plaintext.
	TLS *tls.Config
	// InitialFetchTimeout, when positive, makes Run fail if no rule set
	// was applied that long after it started, so that a misaddressed or
	// broken control plane stops start-up instead of leaving an instance
	// unready for ever.
	InitialFetchTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnections; the
	// wait doubles from MinBackoff and is jittered.
	MinBackoff, MaxBackoff time.Duration
	// MaxMessageSize caps one response (all rules of a set): default 64 MiB.
	MaxMessageSize int
}

// ParseURL reads an xds:// repository URL: xds://host:port with options
// as query parameters: node, cluster, tls (true for TLS with the system
// roots), ca (PEM bundle of roots, implies tls), cert and key (client
// certificate files for mutual TLS, re-read at every connection),
// server_name, initial_fetch_timeout (a duration), max_message_size
// (bytes). It returns the gRPC target and the options.
func ParseURL(raw string) (target string, o Options, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", o, fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "xds" {
		return "", o, fmt.Errorf("%q: not an xds:// URL", raw)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil || u.Port() == "" {
		return "", o, fmt.Errorf("%q: want xds://host:port", raw)
	}
	if u.Path != "" && u.Path != "/" || u.User != nil || u.Fragment != "" {
		return "", o, fmt.Errorf("%q: want xds://host:port with options as query parameters", raw)
	}
	q := u.Query()
	get := func(k string) string { v := q.Get(k); q.Del(k); return v }
	o.NodeID, o.Cluster = get("node"), get("cluster")
	useTLS, ca, cert, key, serverName := get("tls"), get("ca"), get("cert"), get("key"), get("server_name")
	if v := get("initial_fetch_timeout"); v != "" {
		if o.InitialFetchTimeout, err = time.ParseDuration(v); err != nil || o.InitialFetchTimeout < 0 {
			return "", o, fmt.Errorf("%q: initial_fetch_timeout: %q is not a duration such as 30s", raw, v)
		}
	}
	if v := get("max_message_size"); v != "" {
		if o.MaxMessageSize, err = strconv.Atoi(v); err != nil || o.MaxMessageSize <= 0 {
			return "", o, fmt.Errorf("%q: max_message_size: %q is not a number of bytes", raw, v)
		}
	}
	for k := range q {
		return "", o, fmt.Errorf("%q: unknown option %q (known: node, cluster, tls, ca, cert, key, server_name, initial_fetch_timeout, max_message_size)", raw, k)
	}
	on, err := strconv.ParseBool(orFalse(useTLS))
	if err != nil {
		return "", o, fmt.Errorf("%q: tls: %q is not true or false", raw, useTLS)
	}
	if on || ca != "" || cert != "" || key != "" || serverName != "" {
		if o.TLS, err = clientTLS(ca, cert, key, serverName); err != nil {
			return "", o, fmt.Errorf("%q: %w", raw, err)
		}
	}
	return u.Host, o, nil
}

func orFalse(s string) string {
	if s == "" {
		return "false"
	}
	return s
}

// clientTLS builds the client side TLS config. The client certificate
// is read at every handshake, so a rotated one is used on the next
// connection.
func clientTLS(ca, cert, key, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: %s holds no PEM certificate", ca)
		}
	}
	if (cert == "") != (key == "") {
		return nil, fmt.Errorf("cert and key go together")
	}
	if cert != "" {
		if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			return &pair, nil
		}
	}
	return c, nil
}

func (o *Options) defaults() error {
	if o.NodeID == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("node id: %w (set ?node=)", err)
		}
		o.NodeID = h
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	return nil
}
