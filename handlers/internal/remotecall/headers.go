package remotecall

import (
	"fmt"
	"golang.org/x/net/http/httpguts"
	"net/http"
	"sort"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// reservedHeaders frame the HTTP message itself; see ReservedHeader.
var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"te": true, "trailer": true, "upgrade": true, "keep-alive": true, "proxy-connection": true,
}

// ReservedHeader reports whether name (in any case) is a header that
// net/http writes itself from the request it builds: Host, Content-Length
// and the hop-by-hop headers. Such a header is never copied from a client
// request nor set by config: net/http would ignore it, or it would let
// session data re-route or desynchronise the call.
func ReservedHeader(name string) bool { return reservedHeaders[strings.ToLower(name)] }

// HeaderTemplates is a compiled headers config (header name to template
// over the session), as the remote and remote_json authorizers have. It
// is immutable and safe for concurrent use.
type HeaderTemplates []headerTemplate

type headerTemplate struct {
	name string // canonical form, as net/http sends it
	t    *tmpl.Template
}

// CheckHeaderNames validates a headers config without parsing its
// templates (for Validate); CompileHeaders does the parsing (for New).
func CheckHeaderNames(m map[string]string) error {
	for _, name := range sortedKeys(m) {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("headers: invalid header name %q", name)
		}
		if ReservedHeader(name) {
			return fmt.Errorf("headers[%q]: header may not be set by config", name)
		}
	}
	return nil
}

// CompileHeaders parses the header templates once, in name order so that
// errors are reported deterministically.
func CompileHeaders(m map[string]string) (HeaderTemplates, error) {
	if err := CheckHeaderNames(m); err != nil {
		return nil, err
	}
	out := make(HeaderTemplates, 0, len(m))
	for _, name := range sortedKeys(m) {
		t, err := tmpl.Parse("headers."+name, m[name])
		if err != nil {
			return nil, fmt.Errorf("headers[%q]: %w", name, err)
		}
		out = append(out, headerTemplate{name: http.CanonicalHeaderKey(name), t: t})
	}
	return out, nil
}

// Render sets on dst every header whose template renders non-empty (as in
// Oathkeeper, empty ones are not sent). A value with a control character
// is an error rather than something net/http would reject later as a
// transport failure.
func (hs HeaderTemplates) Render(dst http.Header, s *pipeline.Session) error {
	for _, h := range hs {
		v, err := h.t.Execute(s)
		if err != nil {
			return fmt.Errorf("headers[%q]: %w", h.name, err)
		}
		if v == "" {
			continue
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("headers[%q]: rendered value contains a control character", h.name)
		}
		dst[h.name] = []string{v}
	}
	return nil
}

// CheckForwardNames validates and lower-cases a
// forward_response_headers_to_upstream list in place.
func CheckForwardNames(names []string) error {
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if !httpguts.ValidHeaderFieldName(n) {
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

// ForwardHeaders copies the named headers of an allowing answer h to the
// upstream request. Oathkeeper sets a header the remote did not send to "",
// which sends upstream an empty header it then cannot tell from a real one.
// Here an absent (or unusable) header is not set but removed from the
// upstream request instead: the upstream trusts these names to come from
// the authorizer, so a client-sent copy must not get through either. names
// must have been checked with CheckForwardNames.
func ForwardHeaders(s *pipeline.Session, names []string, h http.Header) {
	for _, n := range names {
		if v := h.Values(n); len(v) > 0 && httpguts.ValidHeaderFieldValue(v[0]) {
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
