package remote

// This file is kept identical (bar the package clause) in remote and
// remotejson; see call.go.

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// reservedHeaders may not be set through the headers config: they frame the
// HTTP message itself, and letting a template set them would let session
// data re-route or desynchronise the call.
var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"te": true, "trailer": true, "upgrade": true, "keep-alive": true, "proxy-connection": true,
}

// headerTemplate is one compiled entry of the headers config.
type headerTemplate struct {
	name string // canonical form, as net/http sends it
	t    *tmpl.Template
}

// checkHeaderNames validates the headers config without parsing templates
// (Validate); compileHeaders does the parsing (New).
func checkHeaderNames(m map[string]string) error {
	for _, name := range sortedKeys(m) {
		if !validHeaderName(name) {
			return fmt.Errorf("headers: invalid header name %q", name)
		}
		if reservedHeaders[strings.ToLower(name)] {
			return fmt.Errorf("headers[%q]: header may not be set by config", name)
		}
	}
	return nil
}

// compileHeaders parses the header templates once, in name order so that
// errors are reported deterministically.
func compileHeaders(m map[string]string) ([]headerTemplate, error) {
	if err := checkHeaderNames(m); err != nil {
		return nil, err
	}
	out := make([]headerTemplate, 0, len(m))
	for _, name := range sortedKeys(m) {
		t, err := tmpl.Parse("headers."+name, m[name])
		if err != nil {
			return nil, fmt.Errorf("headers[%q]: %w", name, err)
		}
		out = append(out, headerTemplate{name: http.CanonicalHeaderKey(name), t: t})
	}
	return out, nil
}

// renderHeaders sets every header whose template renders non-empty (as
// Oathkeeper, empty ones are not sent). A value with a control character
// is an error rather than something net/http would reject later as a
// transport failure.
func renderHeaders(dst http.Header, hs []headerTemplate, s *pipeline.Session) error {
	for _, h := range hs {
		v, err := h.t.Execute(s)
		if err != nil {
			return fmt.Errorf("headers[%q]: %w", h.name, err)
		}
		if v == "" {
			continue
		}
		if !validHeaderValue(v) {
			return fmt.Errorf("headers[%q]: rendered value contains a control character", h.name)
		}
		dst[h.name] = []string{v}
	}
	return nil
}

// checkForwardNames validates and lower-cases
// forward_response_headers_to_upstream in place.
func checkForwardNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if !validHeaderName(n) {
			return fmt.Errorf("forward_response_headers_to_upstream[%d]: invalid header name %q", i, n)
		}
		n = strings.ToLower(n)
		if seen[n] {
			return fmt.Errorf("forward_response_headers_to_upstream[%d]: duplicate header %q", i, n)
		}
		seen[n] = true
		names[i] = n
	}
	return nil
}

// forwardHeaders copies the allowed response headers to the upstream
// request. Oathkeeper sets a header the remote did not send to "", which
// sends upstream an empty header it then cannot tell from a real one.
// Here an absent (or unusable) header is not set but removed from the
// upstream request instead: the upstream trusts these names to come from
// the authorizer, so a client-sent copy must not get through either.
func forwardHeaders(s *pipeline.Session, names []string, h http.Header) {
	for _, n := range names {
		if v := h.Values(n); len(v) > 0 && validHeaderValue(v[0]) {
			s.SetHeader(n, v[0])
			continue
		}
		s.RemoveHeaders = append(s.RemoveHeaders, n)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue rejects CTLs other than horizontal tab (RFC 9110 §5.5),
// which keeps CR/LF/NUL from session data out of outbound headers.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
