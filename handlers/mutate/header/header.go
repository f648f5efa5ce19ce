// Package header is the "header" mutator: it renders Go templates over the
// session into headers for the upstream request. It imports pipeline and
// pipeline/tmpl only.
package header

import (
	"context"
	"errors"
	"fmt"
	"golang.org/x/net/http/httpguts"
	"sort"
	"strings"

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
	Headers map[string]string `json:"headers"`
	// MaxValueBytes caps each rendered value (default 8 KiB).
	MaxValueBytes int `json:"max_value_bytes,omitempty"`
}

// Validate checks the header names and applies defaults.
func (c *Config) Validate() error {
	if len(c.Headers) == 0 {
		return errors.New("headers: must not be empty")
	}
	for name := range c.Headers {
		if err := ValidName(name); err != nil {
			return fmt.Errorf("headers.%s: %w", name, err)
		}
	}
	if c.MaxValueBytes < 0 {
		return errors.New("max_value_bytes: must not be negative")
	}
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	return nil
}

// ValidName rejects names that are not HTTP tokens (pseudo-headers
// included) and Host, which a proxy will not let an authorization service
// rewrite.
func ValidName(name string) error {
	switch {
	case !httpguts.ValidHeaderFieldName(name):
		return fmt.Errorf("invalid character in header name %q", name)
	case strings.EqualFold(name, "host"):
		return errors.New("the host header cannot be set")
	}
	return nil
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

// Mutator sets the configured headers.
type Mutator struct {
	headers []entry
	max     int
}

// New compiles the templates; an error names the header.
func New(c Config) (pipeline.Mutator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Mutator{max: c.MaxValueBytes}
	for name, text := range c.Headers {
		t, err := tmpl.Parse(name, text)
		if err != nil {
			return nil, fmt.Errorf("headers.%s: %w", name, err)
		}
		m.headers = append(m.headers, entry{strings.ToLower(name), t})
	}
	sort.Slice(m.headers, func(i, j int) bool { return m.headers[i].name < m.headers[j].name })
	return m, nil
}

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

var _ pipeline.Mutator = (*Mutator)(nil)
