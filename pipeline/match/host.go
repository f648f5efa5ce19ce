package match

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrMalformedHost is wrapped by every CanonicalHost error. The caller
// denies with 400 "malformed_request" before any rule is evaluated.
var ErrMalformedHost = errors.New("malformed host")

// CanonicalHost turns a request's authority (Envoy's :authority, the Host
// header, the decision API's X-Forwarded-Host) into the one form rules are
// matched against, so that every spelling Envoy's case-insensitive virtual
// host routing treats as one host selects one rule. Both front doors reach
// it through Snapshot.Execute, and Compile applies it to the literal host of
// every match.url.
//
// The policy:
//   - ASCII letters are lower-cased; one trailing dot is removed
//     ("API.Example.com." is "api.example.com");
//   - the scheme's default port is removed (":80" for http, ":443" for
//     https); any other port is kept, and must be decimal 1 to 65535
//     without leading zeros;
//   - a name may hold only letters, digits, '-', '_' and '.', with no
//     empty label; percent-escapes, white space, userinfo ('@'), '/' and
//     '\' are refused, and so is raw non-ASCII: IDNA names are matched in
//     their ASCII "xn--" form, which is what clients send;
//   - a name whose last label is numeric ("127.1", "0x7f.1") must be a
//     dotted-decimal IPv4 address, since resolvers read the other forms as
//     addresses too;
//   - an IPv6 literal must be bracketed, without zone, in RFC 5952 form
//     ("[2001:db8::1]", not "[2001:DB8:0::1]").
//
// The empty host stays empty. A host that is already canonical is returned
// without allocating.
func CanonicalHost(scheme, host string) (string, error) {
	if host == "" {
		return "", nil
	}
	name, port, err := splitHostPort(host)
	if err != nil {
		return "", err
	}
	if port != "" {
		if err := checkPort(host, port); err != nil {
			return "", err
		}
		if port == defaultPort(scheme) {
			port = ""
		}
	}
	canon, err := canonicalName(host, name)
	if err != nil {
		return "", err
	}
	switch {
	case port == "":
		// canon is a substring of host unless letters were lowered.
		return canon, nil
	case canon == name:
		return host, nil
	}
	return canon + ":" + port, nil
}

// defaultPort is the port a scheme implies.
func defaultPort(scheme string) string {
	switch {
	case strings.EqualFold(scheme, "http"):
		return "80"
	case strings.EqualFold(scheme, "https"):
		return "443"
	}
	return ""
}

// splitHostPort splits host at the port separator. port is "" when there
// is none; "host:" (an empty port) is refused.
func splitHostPort(host string) (name, port string, err error) {
	if host[0] == '[' {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", "", hostError(host, "unclosed '['")
		}
		name, rest := host[:end+1], host[end+1:]
		switch {
		case rest == "":
			return name, "", nil
		case rest[0] != ':':
			return "", "", hostError(host, "text after the IPv6 literal")
		}
		if rest == ":" {
			return "", "", hostError(host, "empty port")
		}
		return name, rest[1:], nil
	}
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return host, "", nil
	}
	if i == len(host)-1 {
		return "", "", hostError(host, "empty port")
	}
	return host[:i], host[i+1:], nil
}

// checkPort accepts decimal 1 to 65535 without sign or leading zeros.
func checkPort(host, port string) error {
	if len(port) > 5 || port[0] == '0' {
		return hostError(host, "invalid port")
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return hostError(host, "invalid port")
		}
	}
	if n, _ := strconv.Atoi(port); n > 65535 {
		return hostError(host, "invalid port")
	}
	return nil
}

// canonicalName validates and canonicalises the name part of host.
func canonicalName(host, name string) (string, error) {
	if name == "" {
		return "", hostError(host, "empty name")
	}
	if name[0] == '[' {
		return canonicalIPv6(host, name)
	}
	upper := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		case 'A' <= c && c <= 'Z':
			upper = true
		default:
			return "", hostError(host, badHostByte(c))
		}
	}
	if name[len(name)-1] == '.' {
		name = name[:len(name)-1]
	}
	if name == "" || name[0] == '.' || name[len(name)-1] == '.' || strings.Contains(name, "..") {
		return "", hostError(host, "empty label")
	}
	if upper {
		name = strings.ToLower(name)
	}
	last := name[strings.LastIndexByte(name, '.')+1:]
	if numericLabel(last) {
		if a, err := netip.ParseAddr(name); err != nil || !a.Is4() {
			return "", hostError(host, "numeric name that is not a dotted-decimal IPv4 address")
		}
	}
	return name, nil
}

// canonicalIPv6 checks a bracketed IPv6 literal and lower-cases it.
func canonicalIPv6(host, name string) (string, error) {
	inner := name[1 : len(name)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		if !isHex(c) && c != ':' && c != '.' {
			return "", hostError(host, badHostByte(c))
		}
	}
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is6() {
		return "", hostError(host, "invalid IPv6 literal")
	}
	if want := a.String(); want != inner {
		if !strings.EqualFold(want, inner) {
			return "", hostError(host, "IPv6 literal not in RFC 5952 form (send ["+want+"])")
		}
		return "[" + want + "]", nil
	}
	return name, nil
}

// numericLabel reports whether a label reads as a number to an IPv4
// parser: decimal digits, or "0x" with hex digits (the WHATWG URL
// standard's "ends in a number" test).
func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		for i := 2; i < len(l); i++ {
			if !isHex(l[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// badHostByte names what is wrong with byte c in a host.
func badHostByte(c byte) string {
	switch {
	case c == '%':
		return "percent-encoding"
	case c == '@':
		return "userinfo ('@')"
	case c >= 0x80:
		return "non-ASCII (send the IDNA xn-- form)"
	case c <= ' ' || c == 0x7f:
		return "white space or control character"
	case c == ':':
		return "':' outside an IPv6 literal"
	}
	return fmt.Sprintf("character %q", c)
}

func hostError(host, why string) error {
	if len(host) > 100 {
		host = host[:100] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrMalformedHost, host, why)
}
