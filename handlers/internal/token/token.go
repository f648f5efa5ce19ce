package token

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// ErrAmbiguous is wrapped by the error Extract returns when the request
// carries more than one credential where one is expected.
var ErrAmbiguous = errors.New("ambiguous credential")

// ReasonAmbiguous is the pipeline.Error ID for ErrAmbiguous.
const ReasonAmbiguous = "credential_ambiguous"

// accessTokenParam is RFC 6750 §2.3's query parameter. A Bearer header
// together with it is two credentials in one request (RFC 6750 §2).
const accessTokenParam = "access_token"

// From is Oathkeeper's token_from object: at most one field is set. A nil
// *From or the zero value means "Authorization: Bearer <token>".
type From struct {
	// Header names a header whose whole value is the token. For
	// Authorization (any case) the Bearer scheme is parsed as by default.
	Header string `json:"header,omitempty"`
	// QueryParameter names a query parameter (case-sensitive).
	QueryParameter string `json:"query_parameter,omitempty"`
	// Cookie names a cookie (case-sensitive).
	Cookie string `json:"cookie,omitempty"`
}

// Validate checks that at most one location is set. Call it at compile
// time; errors name the key relative to token_from.
func (f *From) Validate() error {
	if f == nil {
		return nil
	}
	n := 0
	for _, v := range [...]string{f.Header, f.QueryParameter, f.Cookie} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("set only one of header, query_parameter, cookie")
	}
	if f.Header != "" && strings.ContainsAny(f.Header, " \t\r\n:") {
		return errors.New("header: invalid header name " + quote(f.Header))
	}
	return nil
}

// Location describes where the token is expected, for messages:
// `header "Authorization" (Bearer)`, `query parameter "token"`, ...
func (f *From) Location() string {
	switch {
	case f == nil || f.Header == "" && f.QueryParameter == "" && f.Cookie == "":
		return `header "Authorization" (Bearer)`
	case f.QueryParameter != "":
		return "query parameter " + quote(f.QueryParameter)
	case f.Cookie != "":
		return "cookie " + quote(f.Cookie)
	case strings.EqualFold(f.Header, "authorization"):
		return `header "Authorization" (Bearer)`
	default:
		return "header " + quote(f.Header)
	}
}

// Extract returns the token, "" with a nil error when the request carries
// none (the authenticator is then not responsible), or a 401
// *pipeline.Error with ID ReasonAmbiguous wrapping ErrAmbiguous when it
// carries more than one. The error never contains the token. Extract is
// safe for concurrent use and does not modify r.
func (f *From) Extract(r *pipeline.Request) (string, error) {
	switch {
	case f == nil || f.Header == "" && f.QueryParameter == "" && f.Cookie == "":
		return bearer(r)
	case f.QueryParameter != "":
		return fromQuery(r, f.QueryParameter)
	case f.Cookie != "":
		return fromCookie(r, f.Cookie)
	case strings.EqualFold(f.Header, "authorization"):
		return bearer(r)
	default:
		return fromHeader(r, f.Header)
	}
}

func ambiguous(what string) error {
	return pipeline.Unauthorized(ReasonAmbiguous, "more than one credential in "+what, ErrAmbiguous)
}

// bearer applies Oathkeeper's one rule for "Authorization: Bearer": the
// scheme is everything before the first space and must be "bearer" in any
// case; the credential is everything after that space, byte for byte. No
// trimming, no tab as a separator: "Bearer  t" is the credential " t",
// "Bearer t " is "t ", "Bearer\tt" carries no Bearer credential at all,
// and "Bearer a b" is "a b" (the jwt authenticator then refuses the
// malformed token; a session store or introspection endpoint gets exactly
// what the client sent). Portcullis only adds refusals for ambiguity
// (two credentials in one request).
func bearer(r *pipeline.Request) (string, error) {
	vals := r.Header.Values("authorization")
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1:
		return "", ambiguous(`header "Authorization"`)
	}
	v := vals[0]
	if strings.IndexByte(v, ',') >= 0 {
		// Envoy joins repeated headers with a bare comma. A Bearer token
		// never contains one (RFC 6750 b64token), so any comma next to a
		// Bearer scheme means two credentials.
		for _, part := range strings.Split(v, ",") {
			if mentionsBearer(part) {
				return "", ambiguous(`header "Authorization"`)
			}
		}
		return "", nil
	}
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || tok == "" || !strings.EqualFold(scheme, "bearer") {
		return "", nil
	}
	if r.RawQuery != "" && strings.Contains(r.RawQuery, accessTokenParam) {
		// url.ParseQuery keeps the pairs it could parse when it fails.
		if q, _ := url.ParseQuery(r.RawQuery); q.Has(accessTokenParam) {
			return "", ambiguous(`header "Authorization" and query parameter "access_token"`)
		}
	}
	return tok, nil
}

// mentionsBearer reports whether one comma-separated part of an
// Authorization value starts (after blanks) with the Bearer scheme followed
// by a space, a tab or nothing. It only detects a second credential, so it
// is deliberately broader than the extraction rule: an upstream with a
// lenient parser might accept "Bearer\tt" where Portcullis does not.
func mentionsBearer(part string) bool {
	const scheme = "bearer"
	v := strings.TrimLeft(part, " \t")
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return false
	}
	return len(v) == len(scheme) || v[len(scheme)] == ' ' || v[len(scheme)] == '\t'
}

// hasBearerHeader reports whether the request also carries a Bearer
// Authorization header, which makes a token elsewhere ambiguous.
func hasBearerHeader(r *pipeline.Request) bool {
	for _, v := range r.Header.Values("authorization") {
		for _, part := range strings.Split(v, ",") {
			if mentionsBearer(part) {
				return true
			}
		}
	}
	return false
}

func fromHeader(r *pipeline.Request, name string) (string, error) {
	vals := r.Header.Values(name)
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1 || strings.IndexByte(vals[0], ',') >= 0:
		return "", ambiguous("header " + quote(name))
	}
	// The whole value is the credential, untrimmed like a Bearer one.
	return vals[0], nil
}

func fromQuery(r *pipeline.Request, name string) (string, error) {
	if r.RawQuery == "" {
		return "", nil
	}
	// url.ParseQuery keeps the pairs it could parse when it fails (a stray
	// ';' for instance), so its error alone does not hide the parameter.
	q, _ := url.ParseQuery(r.RawQuery)
	vals := q[name]
	switch {
	case len(vals) == 0 || len(vals) == 1 && vals[0] == "":
		return "", nil
	case len(vals) > 1:
		return "", ambiguous("query parameter " + quote(name))
	case hasBearerHeader(r):
		return "", ambiguous("query parameter " + quote(name) + ` and header "Authorization"`)
	}
	return vals[0], nil
}

func fromCookie(r *pipeline.Request, name string) (string, error) {
	lines := r.Header.Values("cookie")
	if len(lines) == 0 {
		return "", nil
	}
	hr := http.Request{Header: http.Header{"Cookie": lines}}
	var (
		val string
		n   int
	)
	for _, c := range hr.Cookies() {
		if c.Name == name {
			val = c.Value
			n++
		}
	}
	switch {
	case n == 0 || val == "" && n == 1:
		return "", nil
	case n > 1:
		return "", ambiguous("cookie " + quote(name))
	case hasBearerHeader(r):
		return "", ambiguous("cookie " + quote(name) + ` and header "Authorization"`)
	}
	return val, nil
}

// quote quotes a configured name for messages (names come from config, not
// from the request, so they are safe to show).
func quote(s string) string { return `"` + s + `"` }
