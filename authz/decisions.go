package authz

import (
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// DecisionsPath is the prefix of the HTTP decision API, as in Oathkeeper.
const DecisionsPath = "/decisions"

// DecisionsOptions configure the decision API.
type DecisionsOptions struct {
	// Forwarded says whose forwarded headers are believed, and which; nil
	// reads every forwarded header, from loopback peers only.
	Forwarded *ForwardedTrust
}

// Decisions serves the HTTP decision API for proxies that ask over plain
// HTTP: nginx auth_request, Traefik forwardAuth and Envoy's HTTP
// ext_authz mode. The request being judged is the call itself (method,
// Host, scheme, and the path and query after /decisions: Envoy's
// path_prefix mode) unless a trusted proxy states otherwise in the
// forwarded headers o.Forwarded reads, with Oathkeeper's precedence:
//
//   - method: X-Forwarded-Method or X-Original-Method;
//   - scheme: X-Forwarded-Proto (http, https; ws and wss as http, https);
//   - host: X-Forwarded-Host;
//   - path and query: X-Forwarded-Uri or X-Original-Uri.
//
// The call is denied with 400 (malformed_request) rather than judged when
// a read forwarded header comes from a peer that is not trusted, appears
// twice with different values or as a list, or when two sources state the
// same fact differently: X-Forwarded-Uri against X-Original-Uri or against
// a path after /decisions, X-Forwarded-Method against X-Original-Method,
// the last Forwarded element's host or proto against the host or scheme
// judged. Forwarded itself is never a source.
//
// Unlike Oathkeeper, the query of X-Forwarded-Uri is kept, and the path is
// passed on as received, to be normalised (and rejected when ambiguous)
// exactly as for gRPC checks.
//
// Allowed: 200 with the upstream headers; removals are listed in
// x-envoy-auth-headers-to-remove (Envoy's HTTP mode honours it). Denied:
// the error handler's status, headers and body.
func (c *Checker) Decisions(o DecisionsOptions) http.Handler {
	trust := o.Forwarded
	if trust == nil {
		trust = defaultForwardedTrust
	}
	return http.HandlerFunc(func(w http.ResponseWriter, hr *http.Request) {
		call := new(decisionCall)
		malformed := trust.decisionRequest(hr, &call.req)
		d := c.final(hr.Context(), &call.req, malformed)
		h := w.Header()
		if d.Allowed {
			if s := d.Session; s != nil {
				addHeaders(h, s.Header, call.vals[:0])
				if len(s.RemoveHeaders) > 0 {
					h[headerXEnvoyAuthHeadersToRemove] = []string{strings.Join(s.RemoveHeaders, ", ")}
				}
			}
			w.WriteHeader(http.StatusOK)
			// addHeaders copied what the response needs and the log line
			// is made: the session can serve the next check.
			d.Release()
			return
		}
		addHeaders(h, d.Denial.Header, call.vals[:0])
		status := d.Denial.Status
		if status < 200 || status > 599 {
			status = http.StatusInternalServerError
		}
		w.WriteHeader(status)
		_, _ = w.Write(d.Denial.Body)
	})
}

// headerXEnvoyAuthHeadersToRemove is canonical: set by map assignment,
// it is not canonicalised again on every call.
const headerXEnvoyAuthHeadersToRemove = "X-Envoy-Auth-Headers-To-Remove"

// decisionCall is what a decision call allocates for itself, in one
// allocation: the request judged and the backing array of the answer's
// header values. It is never reused: a handler may keep the request past
// the call (a coalesced remote call outlives a caller that gives up), and
// net/http or a middleware the answer's header values.
type decisionCall struct {
	req  pipeline.Request
	vals [decisionCallHeaderValues]string
}

// decisionCallHeaderValues is how many answer header values a
// decisionCall holds itself: as many as a typical header mutator sets.
// With 2, the call fills the allocation size class above the request's
// (384 bytes): more would grow it for every call.
const decisionCallHeaderValues = 2

// addHeaders adds every value of src to h, as h.Add would, but copies the
// values (src may be a pooled session's, reused after Release) into one
// array, buf's when they fit, and canonicalises each name once per
// process, not per call. buf is empty; nothing else may write its array.
func addHeaders(h http.Header, src map[string][]string, buf []string) {
	n := 0
	for _, vs := range src {
		n += len(vs)
	}
	if n == 0 {
		return
	}
	if cap(buf) < n {
		buf = make([]string, 0, n)
	}
	for k, vs := range src {
		if len(vs) == 0 {
			continue
		}
		ck := responseHeaderNames.get(k)
		if prev, ok := h[ck]; ok {
			h[ck] = append(prev, vs...)
			continue
		}
		i := len(buf)
		buf = append(buf, vs...)
		h[ck] = buf[i:len(buf):len(buf)]
	}
}

// decisionRequest rebuilds the request to judge from a decision call into
// r, which is zero. On error r is what was rebuilt so far, for the
// decision log.
func (t *ForwardedTrust) decisionRequest(hr *http.Request, r *pipeline.Request) error {
	r.Method, r.Scheme, r.Host, r.Protocol = hr.Method, "http", hr.Host, hr.Proto
	if hr.TLS != nil {
		r.Scheme = "https"
	}
	// One pass over the headers converts the names and notes which
	// forwarded headers were sent. Names are matched exactly, as
	// hr.Header[name] would: net/http canonicalises every valid name.
	r.Header = make(pipeline.Header, len(hr.Header))
	var sent forwardedSet
	for k, vs := range hr.Header {
		n := requestHeaderNames.get(k)
		r.Header[n.lower] = vs
		sent |= n.forwarded
		if n.requestID && len(vs) > 0 {
			r.ID = vs[0]
		}
	}
	peer, perr := netip.ParseAddrPort(hr.RemoteAddr)
	if perr == nil {
		r.Source.Address, r.Source.Port = addrString(hr.RemoteAddr, peer), uint32(peer.Port())
	}

	// The call's request target exactly as received: re-escaping or
	// cutting it here would judge a path other than the one sent.
	target := hr.RequestURI
	if target == "" && hr.URL != nil { // called in-process, not by a server
		target = hr.URL.RequestURI()
	}
	callPath, _, _ := strings.Cut(target, "?")
	if callPath != DecisionsPath && !strings.HasPrefix(callPath, DecisionsPath+"/") {
		return fmt.Errorf("request target is not %s or below it", DecisionsPath)
	}
	suffix := target[len(DecisionsPath):]
	r.RawPath, r.RawQuery, _ = strings.Cut(suffix, "?")

	f, err := t.read(hr, sent&t.headers, peer, perr == nil)
	if err != nil {
		return err
	}
	if f.method != "" {
		r.Method = f.method
	}
	schemeFrom := "the call's scheme"
	if f.scheme != "" {
		r.Scheme, schemeFrom = f.scheme, HeaderXForwardedProto
	}
	hostFrom := "Host"
	if f.host != "" {
		r.Host, hostFrom = f.host, HeaderXForwardedHost
	}
	if f.target != "" {
		// A path after /decisions (Envoy's path_prefix mode) states the
		// target too; a proxy that passes the client's X-Forwarded-Uri
		// through must not let it choose another.
		if r.RawPath != "" && suffix != f.target {
			return fmt.Errorf("%s and the path after %s state different request targets", f.targetFrom, DecisionsPath)
		}
		r.RawPath, r.RawQuery, _ = strings.Cut(f.target, "?")
	}
	if err := f.checkForwarded(r.Host, hostFrom, r.Scheme, schemeFrom); err != nil {
		return err
	}
	return nil
}

// addrString returns peer's address as netip prints it, unmapped. An
// IPv4 peer's is the host part of remoteAddr, which netip only parses in
// that form: slicing it saves formatting it again.
func addrString(remoteAddr string, peer netip.AddrPort) string {
	if a := peer.Addr(); a.Is4() {
		return remoteAddr[:strings.LastIndexByte(remoteAddr, ':')]
	}
	return peer.Addr().Unmap().String()
}

// headerNames converts header names (conv) and remembers the answers, up
// to max names: the names a deployment sees are few (its proxies' and its
// rules'), and converting them on every call allocates. Past max, names
// are converted on every call, so a client sending new names each time
// cannot grow it. Safe for concurrent use: the map is replaced, never
// changed.
type headerNames[V any] struct {
	conv func(string) V
	max  int
	m    atomic.Pointer[map[string]V]
}

func newHeaderNames[V any](conv func(string) V, max int, seed ...string) *headerNames[V] {
	m := make(map[string]V, len(seed))
	for _, k := range seed {
		m[k] = conv(k)
	}
	n := &headerNames[V]{conv: conv, max: max}
	n.m.Store(&m)
	return n
}

// maxRememberedName bounds the length of a name headerNames remembers.
const maxRememberedName = 64

// get returns conv(k).
func (n *headerNames[V]) get(k string) V {
	old := n.m.Load()
	if v, ok := (*old)[k]; ok {
		return v
	}
	v := n.conv(k)
	if len(*old) < n.max && len(k) <= maxRememberedName {
		m := make(map[string]V, len(*old)+1)
		maps.Copy(m, *old)
		m[k] = v
		// Losing a race only loses this name until its next call.
		n.m.CompareAndSwap(old, &m)
	}
	return v
}

// requestHeaderName is what a decision call needs to know of one of its
// header names.
type requestHeaderName struct {
	lower     string       // the name in pipeline.Header
	forwarded forwardedSet // the name's, when it is a forwarded header
	requestID bool         // the name is X-Request-Id
}

// headerXRequestID is the header whose value is the request's ID.
const headerXRequestID = "X-Request-Id"

// newRequestHeaderName describes k, a name as the call's http.Header
// holds it: canonical when valid, and compared exactly, as indexing the
// http.Header with a canonical name would.
func newRequestHeaderName(k string) requestHeaderName {
	return requestHeaderName{lower: strings.ToLower(k), forwarded: forwardedBit(k), requestID: k == headerXRequestID}
}

// requestHeaderNames describes the (canonical) names of decision calls'
// headers; responseHeaderNames canonicalises the (lower-case) names of the
// headers a decision answers with.
var (
	requestHeaderNames = newHeaderNames(newRequestHeaderName, 256,
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control", "Connection",
		"Content-Length", "Content-Type", "Cookie", "Forwarded", "Host", "Origin", "Referer",
		"Traceparent", "Tracestate", "User-Agent", "X-Forwarded-For", "X-Forwarded-Host",
		"X-Forwarded-Method", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Proto",
		"X-Forwarded-Uri", "X-Original-Method", "X-Original-Uri", "X-Real-Ip", "X-Request-Id")
	responseHeaderNames = newHeaderNames(http.CanonicalHeaderKey, 256)
)
