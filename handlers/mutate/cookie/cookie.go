package cookie

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// MaxValueBytes caps one rendered cookie value (C-15). RFC 6265 §6.1 asks
// servers to accept 4096-byte cookies; twice that leaves room for a token
// while keeping a runaway claim from producing a header Envoy or the
// upstream would reject.
const MaxValueBytes = 8 << 10

// Config is the cookie mutator's config, with Oathkeeper's key.
type Config struct {
	// Cookies maps a cookie name to the template of its value. Required.
	Cookies map[string]string `json:"cookies"`
}

// Validate checks that cookies is present and every name is an RFC 6265
// cookie-name (an HTTP token), reporting every bad name.
func (c *Config) Validate() error {
	if c.Cookies == nil {
		return errors.New("cookies: required")
	}
	var errs []error
	for _, name := range sortedNames(c.Cookies) {
		if !httpguts.ValidHeaderFieldName(name) {
			errs = append(errs, fmt.Errorf("cookies: invalid cookie name %q", name))
		}
	}
	return errors.Join(errs...)
}

// Mutator sets the upstream Cookie header. It is immutable and safe for
// concurrent use.
type Mutator struct {
	cookies []ruleCookie // sorted by name, so the header is deterministic
}

type ruleCookie struct {
	name string
	t    *tmpl.Template
}

// New returns the mutator for c with every template parsed. It validates c
// itself, so it is safe to call without the registry.
func New(c Config) (pipeline.Mutator, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := &Mutator{cookies: make([]ruleCookie, 0, len(c.Cookies))}
	for _, name := range sortedNames(c.Cookies) {
		t, err := tmpl.Parse("cookie:"+name, c.Cookies[name])
		if err != nil {
			return nil, fmt.Errorf("cookies.%s: %w", name, err)
		}
		m.cookies = append(m.cookies, ruleCookie{name: name, t: t})
	}
	return m, nil
}

// Mutate sets s's Cookie header to the rendered rule cookies followed by
// the client cookies the rule does not replace. The client cookies come
// from an earlier mutator's Cookie header if there is one (so cookie
// mutators compose), else from the request.
func (m *Mutator) Mutate(_ context.Context, r *pipeline.Request, s *pipeline.Session) error {
	client := s.Header.Values("cookie")
	if len(client) == 0 && r != nil {
		client = r.Header.Values("cookie")
	}
	size := 32 * len(m.cookies)
	for _, line := range client {
		size += len(line) + 2
	}
	var b strings.Builder
	b.Grow(size)
	for _, c := range m.cookies {
		v, err := c.t.Execute(s)
		if err != nil {
			return pipeline.Internal("cookie_template_failed", "cookie "+c.name+": template failed", err)
		}
		if len(v) > MaxValueBytes {
			return pipeline.Internal("cookie_value_too_large",
				fmt.Sprintf("cookie %s: rendered value is %d bytes (limit %d)", c.name, len(v), MaxValueBytes), nil)
		}
		v, ok := cookieValue(v)
		if !ok {
			return pipeline.Internal("cookie_value_invalid", "cookie "+c.name+": rendered value has a byte a cookie cannot carry (control character, non-ASCII, '\"', ';' or '\\')", nil)
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.name)
		b.WriteByte('=')
		b.WriteString(v)
	}
	for _, line := range client {
		m.appendClientCookies(&b, line)
	}
	s.SetHeader("cookie", b.String())
	return nil
}

// appendClientCookies copies the pairs of one Cookie line that the rule
// does not set. Pairs without a valid name, with control characters or
// with invalid UTF-8 (which the front door cannot carry) are dropped, as net/http's parser drops them for Oathkeeper; other values are
// kept byte for byte, since the upstream would have seen them anyway.
func (m *Mutator) appendClientCookies(b *strings.Builder, line string) {
	for line != "" {
		var pair string
		pair, line, _ = strings.Cut(line, ";")
		pair = strings.Trim(pair, " \t")
		name, _, ok := strings.Cut(pair, "=")
		if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(pair) || !utf8.ValidString(pair) || m.sets(name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(pair)
	}
}

// sets reports whether the rule sets a cookie of that name, ignoring case.
func (m *Mutator) sets(name string) bool {
	for _, c := range m.cookies {
		if strings.EqualFold(c.name, name) {
			return true
		}
	}
	return false
}

// cookieValue returns v as net/http's cookie writer (Request.AddCookie, which
// Oathkeeper uses) puts it on the wire: wrapped in DQUOTEs when it contains
// a space or a comma. RFC 6265 §4.1.1 has no place for either, so net/http
// quotes such values for the parsers (its own included) that then read them
// whole. A value already wrapped in one pair of DQUOTEs is unwrapped first:
// the quotes are cookie syntax, not content, and net/http drops them too.
// Every value accepted is therefore written byte for byte as net/http
// writes it.
//
// Where net/http silently drops bytes no cookie-value can hold (controls,
// DEL, non-ASCII, '"', ';', '\'), it reports false instead: dropping
// would change the value, so "alice\"" and "bäcker" would be delivered
// as the cookies of the users "alice" and "bcker".
func cookieValue(v string) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	quote := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == ';', c == '\\':
			return "", false
		case c == ' ', c == ',':
			quote = true
		}
	}
	if quote {
		return `"` + v + `"`, true
	}
	return v, true
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var _ pipeline.Mutator = (*Mutator)(nil)
