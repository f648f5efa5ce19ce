package pipeline

import (
	"net/url"
	"strings"
)

// Header is a multi-valued header map whose keys are lower-case, as Envoy
// sends them. Its methods lower-case the key they are given, so templates may
// write .Get "X-User" or .Get "x-user" alike.
type Header map[string][]string

// Get returns the first value of key, or "".
func (h Header) Get(key string) string {
	if v := h[lowerASCII(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of key.
func (h Header) Values(key string) []string { return h[lowerASCII(key)] }

// Set replaces every value of key with value.
func (h Header) Set(key, value string) { h[lowerASCII(key)] = []string{value} }

// Add appends value to key.
func (h Header) Add(key, value string) {
	k := lowerASCII(key)
	h[k] = append(h[k], value)
}

// Del removes key.
func (h Header) Del(key string) { delete(h, lowerASCII(key)) }

// Clone returns a deep copy of h (nil for nil).
func (h Header) Clone() Header {
	if h == nil {
		return nil
	}
	c := make(Header, len(h))
	for k, v := range h {
		c[k] = append([]string(nil), v...)
	}
	return c
}

// lowerASCII lower-cases s without allocating when it already is.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// Peer is one end of the connection as the proxy saw it.
type Peer struct {
	// Address is the IP (or pipe path) without port.
	Address string
	// Port is the TCP port, 0 when unknown.
	Port uint32
	// Principal is the authenticated TLS identity: the first URI SAN (a
	// SPIFFE ID in a mesh), else the first DNS SAN, else the subject. Empty
	// for plain-text connections.
	Principal string
	// Certificate is the URL-encoded PEM of the client certificate, when the
	// proxy was configured to send it.
	Certificate string
	// Service is the peer's service name, when known.
	Service string
	// Labels are the peer's labels, when known.
	Labels map[string]string
}

// Request is a read-only view of one check, independent of the front door
// that received it. Handlers must not modify it; they write to the Session.
type Request struct {
	// ID correlates log lines: the x-request-id header if present, else the
	// front door's own id.
	ID string
	// Method is the HTTP method, upper-case as sent.
	Method string
	// Scheme is "http" or "https".
	Scheme string
	// Host is the authority, including a port if the client sent one.
	// Execute replaces it with its match.CanonicalHost form (lower case,
	// no trailing dot, no default port) before any rule runs.
	Host string
	// RawPath is the request path exactly as received, without the query.
	RawPath string
	// Path is the normalised path rules are matched against (see
	// NormalizePath); set by Execute when empty.
	Path string
	// RawQuery is the query string without the leading '?'.
	RawQuery string
	// Header holds the request headers, lower-case keys. Duplicates that the
	// front door received separately stay separate values.
	Header Header
	// Body is the buffered request body, if the proxy sent one.
	Body []byte
	// Protocol is "HTTP/1.1", "HTTP/2", ... when known.
	Protocol string
	// Source is the downstream client; Destination is the proxy's listener.
	Source, Destination Peer
	// Context holds Envoy's per-route context_extensions.
	Context map[string]string
	// Metadata holds Envoy's metadata_context filter metadata: namespace →
	// decoded Struct.
	Metadata map[string]map[string]any
	// SNI is the TLS server name the client asked for, when known.
	SNI string
}

// URL returns the request URL built from the normalised path and the query.
func (r *Request) URL() *url.URL {
	u := r.url()
	return &u
}

func (r *Request) url() url.URL {
	p := r.Path
	if p == "" {
		p = r.RawPath
	}
	return url.URL{Scheme: r.Scheme, Host: r.Host, Path: p, RawQuery: r.RawQuery}
}

// Query parses the raw query. It allocates; handlers that need it often
// should call it once.
func (r *Request) Query() url.Values {
	q, _ := url.ParseQuery(r.RawQuery)
	return q
}

// SplitPathQuery splits a request target at its first '?', as Envoy's
// :path carries the query inside the path. A '#' is kept where it is, in
// the path or the query: a request target has no fragment, and
// Snapshot.Execute refuses one with 400 rather than cut it off and judge
// a request the upstream may read differently.
func SplitPathQuery(target string) (path, query string) {
	path, query, _ = strings.Cut(target, "?")
	return path, query
}
