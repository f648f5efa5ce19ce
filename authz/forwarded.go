package authz

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The forwarded headers the decision API can read. Which of them it reads
// is configuration (serve.api.forwarded.headers).
const (
	HeaderXForwardedMethod = "X-Forwarded-Method"
	HeaderXForwardedProto  = "X-Forwarded-Proto"
	HeaderXForwardedHost   = "X-Forwarded-Host"
	HeaderXForwardedURI    = "X-Forwarded-Uri"
	// HeaderXOriginalMethod and HeaderXOriginalURI are the names nginx
	// auth_request configurations commonly use.
	HeaderXOriginalMethod = "X-Original-Method"
	HeaderXOriginalURI    = "X-Original-Uri"
	// HeaderForwarded (RFC 7239) is never a source: its host and proto
	// must agree with the host and scheme judged, else the call is a 400.
	HeaderForwarded = "Forwarded"
)

var knownForwarded = []string{HeaderXForwardedMethod, HeaderXForwardedProto, HeaderXForwardedHost, HeaderXForwardedURI,
	HeaderXOriginalMethod, HeaderXOriginalURI, HeaderForwarded}

// forwardedSet is a set of forwarded headers: bit i stands for
// knownForwarded[i]. A decision call notes the ones it carries while it
// converts its header names, instead of looking each up again.
type forwardedSet uint8

// forwardedBit returns the set of name alone, empty when name is not
// exactly (canonical) one of knownForwarded.
func forwardedBit(name string) forwardedSet {
	if i := slices.Index(knownForwarded, name); i >= 0 {
		return 1 << i
	}
	return 0
}

// names lists the headers of s in the order of knownForwarded.
func (s forwardedSet) names() []string {
	var names []string
	for i, name := range knownForwarded {
		if s&(1<<i) != 0 {
			names = append(names, name)
		}
	}
	return names
}

// DefaultTrustedProxies are the peers whose forwarded headers are believed
// when nothing is configured: the same host.
func DefaultTrustedProxies() []string { return []string{"127.0.0.0/8", "::1/128"} }

// DefaultForwardedHeaders are the forwarded headers read when nothing is
// configured: all of them.
func DefaultForwardedHeaders() []string { return slices.Clone(knownForwarded) }

// ForwardedTrust says whose forwarded headers the decision API believes,
// and which. A listed header sent by a peer outside the trusted proxies
// makes the call a 400 (malformed_request): the decision API never judges
// a request other than the one the proxy asks about, and a proxy that is
// not trusted by mistake fails loudly instead of having its /decisions
// call judged. Headers not listed are ordinary request headers.
//
// A ForwardedTrust is immutable and safe for concurrent use.
type ForwardedTrust struct {
	proxies []netip.Prefix
	headers forwardedSet // the ones read
}

// NewForwardedTrust returns the trust for serve.api.forwarded:
// trustedProxies are CIDRs or single IP addresses, headers are names of
// forwarded headers the decision API reads (case-insensitive). Empty lists
// trust no peer and read no header.
func NewForwardedTrust(trustedProxies, headers []string) (*ForwardedTrust, error) {
	t := &ForwardedTrust{}
	var errs []error
	for _, s := range trustedProxies {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			a, aerr := netip.ParseAddr(strings.TrimSpace(s))
			if aerr != nil || a.Zone() != "" {
				errs = append(errs, fmt.Errorf("trusted_proxies: %q is not a CIDR or an IP address", s))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		// Peers are compared unmapped, so ::ffff:10.0.0.0/104 is
		// 10.0.0.0/8.
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		t.proxies = append(t.proxies, p.Masked())
	}
	for _, h := range headers {
		name := http.CanonicalHeaderKey(strings.TrimSpace(h))
		if !slices.Contains(knownForwarded, name) {
			errs = append(errs, fmt.Errorf("headers: %q is not a forwarded header the decision API reads (%s)", h, strings.Join(knownForwarded, ", ")))
			continue
		}
		t.headers |= forwardedBit(name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// defaultForwardedTrust is used when DecisionsOptions.Forwarded is nil.
var defaultForwardedTrust = func() *ForwardedTrust {
	t, err := NewForwardedTrust(DefaultTrustedProxies(), DefaultForwardedHeaders())
	if err != nil {
		panic(err)
	}
	return t
}()

// trusts reports whether peer (the call's http.Request.RemoteAddr,
// parsed) is a trusted proxy.
func (t *ForwardedTrust) trusts(peer netip.AddrPort) bool {
	a := peer.Addr().Unmap().WithZone("")
	for _, p := range t.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFacts is what a trusted proxy states about the request it asks
// about; an empty field is not stated. methodFrom and targetFrom name the
// header a value came from, for error messages.
type forwardedFacts struct {
	method, methodFrom string
	scheme, host       string
	target, targetFrom string
	// fwd is the last element of Forwarded (nil without one): compared
	// with what is judged, never used.
	fwd map[string]string
}

// read collects the configured forwarded headers of hr, sent by peer
// (hr.RemoteAddr parsed; parsed says whether it parses); sent is the set
// of them hr carries (under its canonical name). A listed header
// from an untrusted peer, a header repeated with different values, a list
// where one value belongs, a value its header cannot carry, and two
// headers stating the same fact differently are errors: the caller denies
// with 400 rather than pick one.
func (t *ForwardedTrust) read(hr *http.Request, sent forwardedSet, peer netip.AddrPort, parsed bool) (forwardedFacts, error) {
	var f forwardedFacts
	if sent == 0 {
		return f, nil
	}
	if !parsed || !t.trusts(peer) {
		return f, fmt.Errorf("%s sent by %s, which is not in serve.api.forwarded.trusted_proxies", strings.Join(sent.names(), ", "), hr.RemoteAddr)
	}

	var err error
	if f.method, f.methodFrom, err = agree(hr.Header, sent, false, HeaderXForwardedMethod, HeaderXOriginalMethod); err != nil {
		return forwardedFacts{}, err
	}
	if f.method != "" && !httpguts.ValidHeaderFieldName(f.method) { // the token grammar
		return forwardedFacts{}, fmt.Errorf("%s %q is not an HTTP method", f.methodFrom, f.method)
	}
	proto, _, err := agree(hr.Header, sent, false, HeaderXForwardedProto)
	if err != nil {
		return forwardedFacts{}, err
	}
	if proto != "" {
		if f.scheme = schemeOf(proto); f.scheme == "" {
			return forwardedFacts{}, fmt.Errorf("%s %q is not http, https, ws or wss", HeaderXForwardedProto, proto)
		}
	}
	if f.host, _, err = agree(hr.Header, sent, false, HeaderXForwardedHost); err != nil {
		return forwardedFacts{}, err
	}
	// A request target may contain commas: it is never split.
	if f.target, f.targetFrom, err = agree(hr.Header, sent, true, HeaderXForwardedURI, HeaderXOriginalURI); err != nil {
		return forwardedFacts{}, err
	}
	if vs := hr.Header[HeaderForwarded]; len(vs) > 0 && sent&forwardedBit(HeaderForwarded) != 0 {
		elems, err := parseForwarded(strings.Join(vs, ","))
		if err != nil {
			return forwardedFacts{}, fmt.Errorf("%s: %w", HeaderForwarded, err)
		}
		// Each proxy appends its element: the last is the statement of
		// the proxy nearest to us.
		f.fwd = elems[len(elems)-1]
	}
	return f, nil
}

// agree returns the value that the headers of sent among names state, and
// the header it came from ("" when none does). Each header must have one
// value (repeated fields identical; no comma unless mayComma), and all
// must state the same one. Values are left out of the errors: a request
// target may carry credentials in its query.
func agree(h http.Header, sent forwardedSet, mayComma bool, names ...string) (value, from string, err error) {
	for _, name := range names {
		vs := h[name] // names are canonical
		if sent&forwardedBit(name) == 0 || len(vs) == 0 {
			continue
		}
		for _, v := range vs[1:] {
			if v != vs[0] {
				return "", "", fmt.Errorf("%s is repeated with different values", name)
			}
		}
		v := vs[0]
		if !mayComma && strings.Contains(v, ",") {
			return "", "", fmt.Errorf("%s is a list of values; the proxy must set it, not append to it", name)
		}
		if v == "" {
			continue
		}
		if from != "" && v != value {
			return "", "", fmt.Errorf("%s and %s disagree", from, name)
		}
		value, from = v, name
	}
	return value, from, nil
}

// schemeOf maps a forwarded protocol to the scheme rules match: WebSocket
// upgrades (Traefik's ws/wss) are judged as the HTTP request they are.
func schemeOf(proto string) string {
	switch strings.ToLower(proto) {
	case "http", "ws":
		return "http"
	case "https", "wss":
		return "https"
	}
	return ""
}

// checkForwarded compares the last Forwarded element with the host and
// scheme that will be judged (hostFrom and schemeFrom name their source).
func (f *forwardedFacts) checkForwarded(host, hostFrom, scheme, schemeFrom string) error {
	if h, ok := f.fwd["host"]; ok && !strings.EqualFold(h, host) {
		return fmt.Errorf("%s host=%q disagrees with %s %q", HeaderForwarded, h, hostFrom, host)
	}
	if p, ok := f.fwd["proto"]; ok && schemeOf(p) != scheme {
		return fmt.Errorf("%s proto=%q disagrees with %s %q", HeaderForwarded, p, schemeFrom, scheme)
	}
	return nil
}

// parseForwarded parses an RFC 7239 field value into its elements, each a
// map of lower-case parameter names to (unquoted) values. A parameter
// repeated within one element is an error, as the RFC requires.
func parseForwarded(v string) ([]map[string]string, error) {
	var elems []map[string]string
	cur := map[string]string{}
	i := 0
	for {
		i = skipOWS(v, i)
		if i < len(v) && v[i] != ';' && v[i] != ',' {
			j := tokenEnd(v, i)
			if j == i || j >= len(v) || v[j] != '=' {
				return nil, fmt.Errorf("malformed parameter at byte %d", i)
			}
			name := strings.ToLower(v[i:j])
			j++
			var val string
			if j < len(v) && v[j] == '"' {
				var err error
				if val, j, err = unquote(v, j); err != nil {
					return nil, err
				}
			} else {
				k := tokenEnd(v, j)
				if k == j {
					return nil, fmt.Errorf("empty value of %s at byte %d", name, j)
				}
				val, j = v[j:k], k
			}
			if _, dup := cur[name]; dup {
				return nil, fmt.Errorf("%s repeated in one element", name)
			}
			cur[name] = val
			i = skipOWS(v, j)
		}
		if i >= len(v) {
			return append(elems, cur), nil
		}
		switch v[i] {
		case ';':
		case ',':
			elems = append(elems, cur)
			cur = map[string]string{}
		default:
			return nil, fmt.Errorf("unexpected %q at byte %d", v[i], i)
		}
		i++
	}
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func tokenEnd(s string, i int) int {
	for i < len(s) && httpguts.IsTokenRune(rune(s[i])) {
		i++
	}
	return i
}

// unquote reads the quoted-string starting at s[i] == '"' and returns its
// value and the index after the closing quote.
func unquote(s string, i int) (string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			return b.String(), j + 1, nil
		case c == '\\' && j+1 < len(s):
			j++
			b.WriteByte(s[j])
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", 0, fmt.Errorf("control character at byte %d", j)
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted string at byte %d", i)
}
