// Package header is the "header" mutator: it renders Go templates over the
// session into headers for the upstream request. It imports pipeline,
// pipeline/tmpl and handlers/internal/headerpolicy (plus x/net's httpguts).
//
// Header names are checked when the rule loads (headerpolicy): hop-by-hop,
// framing, pseudo- and x-envoy-* headers are refused, the last unless
// listed in allow_envoy_headers. Host is not refused, because Oathkeeper
// configs set it for its proxy; in ext_authz mode Envoy owns Host, so the
// mutator never sends it and the rule loads with one warning naming the
// Envoy route setting that does the job (host_rewrite_literal or
// host_rewrite_header).
package header

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis-authz/portcullis/handlers/internal/headerpolicy"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// DefaultMaxValueBytes caps a rendered header value. Envoy's default limit
// for all request headers together is 60 KiB; a claim that renders larger
// than this is an attack or a mistake, and either way must not pass
// silently (SECURITY_CASES C-15).
const DefaultMaxValueBytes = 8 << 10

// Config maps header names to templates.
type Config struct {
	// Headers maps a header name to a text/template over the session.
	// Required, as in Oathkeeper; an empty map is valid and sets nothing.
	Headers map[string]string `json:"headers"`
	// MaxValueBytes caps each rendered value (default 8 KiB).
	MaxValueBytes int `json:"max_value_bytes,omitempty"`
	// AllowEnvoyHeaders lists the x-envoy-* headers this mutator may set
	// (exact names, no wildcards). Default: none.
	AllowEnvoyHeaders []string `json:"allow_envoy_headers,omitempty"`
}

// Validate checks the header names and applies defaults. It reports every
// bad name, each with the reason it cannot be set.
func (c *Config) Validate() error {
	if c.Headers == nil {
		return errors.New("headers: required (write headers: {} to set none)")
	}
	var errs []error
	policy, err := headerpolicy.New(c.AllowEnvoyHeaders)
	if err != nil {
		errs = append(errs, err)
	}
	seen := make(map[string]string, len(c.Headers))
	for _, name := range sortedNames(c.Headers) {
		if err := policy.Check(name); err != nil && !errors.Is(err, headerpolicy.ErrHost) {
			errs = append(errs, fmt.Errorf("headers: %w", err))
			continue
		}
		// Two spellings of one header would each overwrite the other in
		// map order: refuse rather than pick one at random per request.
		l := strings.ToLower(name)
		if prev, dup := seen[l]; dup {
			errs = append(errs, fmt.Errorf("headers: %q and %q name the same header", prev, name))
		}
		seen[l] = name
	}
	if c.MaxValueBytes < 0 {
		errs = append(errs, errors.New("max_value_bytes: must not be negative"))
	}
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	return errors.Join(errs...)
}

// ValidValue rejects values a header cannot carry: CR, LF and NUL would
// split or truncate the header, and RFC 9110 §5.5 allows no other control
// character but HTAB either (SECURITY_CASES C-05).
func ValidValue(v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("value is %d bytes, limit %d", len(v), max)
	}
	if !httpguts.ValidHeaderFieldValue(v) {
		return errors.New("value contains a control character")
	}
	return nil
}

type entry struct {
	name string
	t    *tmpl.Template
}

// Mutator sets the configured headers. It is immutable and safe for
// concurrent use.
type Mutator struct {
	headers  []entry
	max      int
	warnings []string
}

// New compiles the templates; an error names the header. A Host entry is
// parsed (so a broken template still fails the load) but never set: see
// Warnings.
func New(c Config) (pipeline.Mutator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Mutator{max: c.MaxValueBytes}
	for _, name := range sortedNames(c.Headers) {
		t, err := tmpl.Parse(name, c.Headers[name])
		if err != nil {
			return nil, fmt.Errorf("headers.%s: %w", name, err)
		}
		if strings.EqualFold(name, "host") {
			m.warnings = append(m.warnings, fmt.Sprintf("headers.%s is dropped: Envoy owns the Host header and has routed on it already; "+
				"set it on the Envoy route with host_rewrite_literal, or host_rewrite_header naming a header this mutator sets", name))
			continue
		}
		m.headers = append(m.headers, entry{strings.ToLower(name), t})
	}
	return m, nil
}

// UpstreamHeaders names the headers Mutate sets (pipeline.HeaderSetter).
func (m *Mutator) UpstreamHeaders() []string {
	names := make([]string, len(m.headers))
	for i, h := range m.headers {
		names[i] = h.name
	}
	return names
}

// Warnings reports a Host entry, which the mutator drops (pipeline.Warner).
func (m *Mutator) Warnings() []string { return m.warnings }

// Mutate renders each template and sets the header, replacing any value an
// earlier handler set. A value that cannot be a header fails the request.
func (m *Mutator) Mutate(_ context.Context, _ *pipeline.Request, s *pipeline.Session) error {
	for _, h := range m.headers {
		v, err := h.t.Execute(s)
		if err != nil {
			return pipeline.Internal("header_template_failed", "header "+h.name+": template failed", err)
		}
		if err := ValidValue(v, m.max); err != nil {
			return pipeline.Internal("header_value_invalid", "header "+h.name, err)
		}
		s.SetHeader(h.name, v)
	}
	return nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var (
	_ pipeline.Mutator = (*Mutator)(nil)
	_ pipeline.Warner  = (*Mutator)(nil)
)
