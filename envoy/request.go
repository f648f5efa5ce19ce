package envoy

import (
	"net/http"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// ToRequest translates an ext_authz CheckRequest into a pipeline.Request.
//
// It reads what Envoy really sends (ENVOY_PROTOCOL.md §2), not what the proto
// comments promise:
//   - method, host and scheme come from attributes.request.http, falling back
//     to the :method, :authority (then host) and :scheme pseudo-headers.
//     The scheme never falls back to x-forwarded-proto, which any client can
//     send; with no scheme at all it is "http". The host is returned in
//     match.CanonicalHost form, and every copy of it (http.host,
//     :authority, a host header) must agree in that form.
//   - http.path is the request target including the query; it is split with
//     pipeline.SplitPathQuery. http.query and http.fragment are always empty
//     and are never read.
//   - headers come from header_map when it has entries (encode_raw_headers:
//     one entry per header line, raw_value bytes, duplicates kept as separate
//     values in order), else from the headers map, whose duplicates Envoy
//     has already joined with a bare "," and which stays one value. Keys are
//     lower-cased; pseudo-headers stay in the map, and nothing is dropped
//     (x-envoy-auth-partial-body is Envoy's own: it strips client copies).
//   - ID is the x-request-id header: http.id is Envoy's internal stream id,
//     despite the proto comment, and is used only when that header is absent.
//
// The Request shares maps and the raw body with req (labels,
// context_extensions, raw_body); neither may be modified afterwards.
//
// A request Envoy would never send is an error: nil attributes, request or
// http; an empty method; a path that is empty or does not start with '/'
// (so CONNECT and "OPTIONS *" are rejected too); a host CanonicalHost
// refuses, or copies of the host that disagree; an empty header key; or a
// NUL, CR or LF byte in the method, path or any header key or value
// (raw_value included). Other bytes, invalid UTF-8 included, are allowed in
// raw header values. The error is a *pipeline.Error with status 400 and
// reason pipeline.ReasonMalformed, so pipeline.StatusOf and pipeline.ReasonOf
// classify it; the caller denies with 400.
func ToRequest(req *authv3.CheckRequest) (*pipeline.Request, error) {
	attrs := req.GetAttributes()
	if attrs == nil {
		return nil, malformed("missing attributes")
	}
	if attrs.GetRequest() == nil {
		return nil, malformed("missing attributes.request")
	}
	hr := attrs.GetRequest().GetHttp()
	if hr == nil {
		return nil, malformed("missing attributes.request.http")
	}

	var (
		h   pipeline.Header
		err error
	)
	if hm := hr.GetHeaderMap().GetHeaders(); len(hm) > 0 {
		h, err = headersFromList(hm)
	} else {
		h, err = headersFromMap(hr.GetHeaders())
	}
	if err != nil {
		return nil, err
	}

	r := &pipeline.Request{}
	line := requestLine{
		id: hr.GetId(), method: hr.GetMethod(), path: hr.GetPath(),
		host: hr.GetHost(), scheme: hr.GetScheme(), protocol: hr.GetProtocol(),
	}
	if err := line.translate(r, h); err != nil {
		return nil, err
	}
	r.Source, r.Destination = toPeer(attrs.GetSource()), toPeer(attrs.GetDestination())
	r.Context = attrs.GetContextExtensions()
	r.Metadata = toMetadata(attrs.GetMetadataContext())
	r.SNI = attrs.GetTlsSession().GetSni()
	// raw_body (pack_as_bytes) carries the exact bytes; body is the
	// UTF-8-sanitised copy Envoy sends otherwise. Envoy fills one of them.
	if rb := hr.GetRawBody(); len(rb) > 0 {
		r.Body = rb
	} else if b := hr.GetBody(); b != "" {
		r.Body = []byte(b)
	}
	return r, nil
}

// requestLine holds the attributes.request.http fields ToRequest reads
// besides the headers and the body.
type requestLine struct{ id, method, path, host, scheme, protocol string }

// translate sets r's request line and headers from l and h, with every
// check ToRequest documents for them; h must come from headersFromList or
// headersFromMap (or their wire twins in codec_request.go).
func (l *requestLine) translate(r *pipeline.Request, h pipeline.Header) error {
	method := first(l.method, h, ":method")
	if method == "" {
		return malformed("empty method")
	}
	if hasCTL(method) {
		return malformed("method contains NUL, CR or LF")
	}
	scheme := lowerASCII(first(l.scheme, h, ":scheme"))
	switch scheme {
	case "":
		scheme = "http"
	case "http", "https":
	default:
		// Envoy only ever sends these two; anything else would reach the
		// match string and templates unchecked.
		return malformed("scheme must be http or https")
	}
	host, err := canonicalHost(scheme, l.host, h)
	if err != nil {
		return err
	}
	target := first(l.path, h, ":path")
	switch {
	case target == "":
		return malformed("empty path")
	case target[0] != '/':
		return malformed("path does not start with '/'")
	case hasCTL(target):
		return malformed("path contains NUL, CR or LF")
	}
	r.ID = firstValue(h, "x-request-id")
	if r.ID == "" {
		r.ID = l.id
	}
	r.Method, r.Scheme, r.Host, r.Header, r.Protocol = method, scheme, host, h, l.protocol
	r.RawPath, r.RawQuery = pipeline.SplitPathQuery(target)
	return nil
}

// canonicalHost returns the request's host in match.CanonicalHost form, the
// form Snapshot.Execute matches. Envoy may state the host three times:
// attributes.request.http.host, the :authority pseudo-header, and a host
// header (an HTTP/2 client may send one beside :authority). Every copy
// must name the same host once canonical: Envoy routes by :authority, and
// an upstream reading a different Host would serve a request judged for
// another host, so disagreement is malformed, not a guess.
func canonicalHost(scheme, attr string, h pipeline.Header) (string, error) {
	var host, from string
	check := func(where, v string) error {
		c, err := match.CanonicalHost(scheme, v)
		switch {
		case err != nil:
			return pipeline.NewError(http.StatusBadRequest, pipeline.ReasonMalformed, where, err)
		case from != "" && c != host:
			return malformed(where + " names another host than " + from)
		case from == "":
			host, from = c, where
		}
		return nil
	}
	if attr != "" {
		if err := check("attributes.request.http.host", attr); err != nil {
			return "", err
		}
	}
	for _, hd := range [...]struct{ key, where string }{{":authority", ":authority header"}, {"host", "host header"}} {
		for _, v := range h[hd.key] {
			if err := check(hd.where, v); err != nil {
				return "", err
			}
		}
	}
	return host, nil
}

// headersFromMap converts the default headers map. Every key gets a one-value
// slice cut from a single backing array (capacity-limited, so a later Add
// copies instead of overwriting its neighbour): one allocation instead of one
// per header.
func headersFromMap(m map[string]string) (pipeline.Header, error) {
	h := make(pipeline.Header, len(m))
	vals := make([]string, len(m))
	i := 0
	for k, v := range m {
		if err := checkHeader(k, v); err != nil {
			return nil, err
		}
		k = lowerASCII(k)
		if old, dup := h[k]; dup {
			// Only keys differing in case get here; Envoy never sends them.
			h[k] = append(old, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
		i++
	}
	return h, nil
}

// headersFromList converts header_map (encode_raw_headers): values come from
// raw_value, as Envoy leaves value unset there; value is the fallback for
// other senders. Duplicates stay separate values in arrival order.
func headersFromList(list []*corev3.HeaderValue) (pipeline.Header, error) {
	h := make(pipeline.Header, len(list))
	vals := make([]string, len(list))
	for i, hv := range list {
		v := hv.GetValue()
		if raw := hv.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		if err := checkHeader(hv.GetKey(), v); err != nil {
			return nil, err
		}
		k := lowerASCII(hv.GetKey())
		if old, dup := h[k]; dup {
			h[k] = append(old, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	return h, nil
}

// checkHeader rejects what no Envoy codec lets through: an empty name, or a
// NUL, CR or LF that could split a header line when a mutator copies the
// value upstream. The value is never put into the error: it may be a
// credential.
func checkHeader(k, v string) error {
	switch {
	case k == "":
		return malformed("empty header name")
	case hasCTL(k):
		return malformed("header " + strconv.Quote(k) + ": name contains NUL, CR or LF")
	case hasCTL(v):
		return malformed("header " + strconv.Quote(k) + ": value contains NUL, CR or LF")
	}
	return nil
}

// first returns v, or else the first value of the pseudo-header key.
func first(v string, h pipeline.Header, key string) string {
	if v != "" {
		return v
	}
	return firstValue(h, key)
}

// firstValue is h.Get for keys that are already lower-case.
func firstValue(h pipeline.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// toPeer converts one end of the connection. Listeners on Unix sockets
// report a pipe, whose path becomes the address; Envoy internal addresses
// leave it empty.
func toPeer(p *authv3.AttributeContext_Peer) pipeline.Peer {
	if p == nil {
		return pipeline.Peer{}
	}
	out := pipeline.Peer{
		Principal:   p.GetPrincipal(),
		Certificate: p.GetCertificate(),
		Service:     p.GetService(),
		Labels:      p.GetLabels(),
	}
	switch a := p.GetAddress().GetAddress().(type) {
	case *corev3.Address_SocketAddress:
		out.Address = a.SocketAddress.GetAddress()
		out.Port = a.SocketAddress.GetPortValue()
	case *corev3.Address_Pipe:
		out.Address = a.Pipe.GetPath()
	}
	return out
}

// malformed returns the 400 error of ToRequest.
func malformed(reason string) error {
	return pipeline.NewError(http.StatusBadRequest, pipeline.ReasonMalformed, reason, nil)
}

// hasCTL reports whether s contains NUL, CR or LF: the bytes that end or
// split an HTTP/1 header line, and that go-control-plane's own validation
// rule for HeaderValue (`^[^\x00\n\r]*$`) rejects.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case 0, '\r', '\n':
			return true
		}
	}
	return false
}

// lowerASCII lower-cases s without allocating when it already is, which is
// always the case for Envoy's header keys.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
