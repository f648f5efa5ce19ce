package redirect

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Config is the redirect handler's config, with Oathkeeper's keys.
type Config struct {
	// To is the redirect target, a URI reference: an absolute URL
	// ("https://login.test/", "about:blank") or a relative one ("/login").
	// Required.
	To string `json:"to"`
	// Code is 301 or 302 (default). Any other value becomes 302, as in
	// Oathkeeper.
	Code int `json:"code"`
	// ReturnToQueryParam, when set, names the query parameter of To that
	// receives the original request URL.
	ReturnToQueryParam string `json:"return_to_query_param"`
	// When selects the failures this handler renders; empty means all
	// (below 500, see the package doc).
	When pipeline.When `json:"when"`
}

// paramPattern is Oathkeeper's schema pattern for return_to_query_param.
var paramPattern = regexp.MustCompile(`^[A-Za-z0-9,._~-]*$`)

// Validate applies defaults and reports every bad key.
func (c *Config) Validate() error {
	var errs []error
	if err := checkTarget(c.To); err != nil {
		errs = append(errs, fmt.Errorf("to: %w", err))
	}
	if c.Code != http.StatusMovedPermanently {
		c.Code = http.StatusFound
	}
	if !paramPattern.MatchString(c.ReturnToQueryParam) {
		errs = append(errs, fmt.Errorf("return_to_query_param: %q does not match %s", c.ReturnToQueryParam, paramPattern))
	}
	if err := c.When.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkTarget accepts what Oathkeeper's schema accepts for to, a URI
// reference of any scheme ("https://login.test/", "/login", "login",
// "about:blank"), with four exceptions that never make a safe redirect:
// javascript:, data: and vbscript: targets, user info, an http(s) URL
// without a host, and bytes that must be percent-encoded (the value goes
// into a Location header as is).
func checkTarget(to string) error {
	if to == "" {
		return errors.New("required")
	}
	for i := 0; i < len(to); i++ {
		if b := to[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return fmt.Errorf("byte %#02x at offset %d must be percent-encoded", b, i)
		}
	}
	u, err := url.Parse(to)
	if err != nil {
		return err
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case u.User != nil:
		return errors.New("must not carry user info")
	case scheme == "javascript" || scheme == "data" || scheme == "vbscript":
		return fmt.Errorf("%s: targets are refused: a browser does not follow them", scheme)
	case (scheme == "http" || scheme == "https") && u.Host == "":
		return fmt.Errorf("%q has no host", to)
	}
	return nil
}

// Handler answers failures with a redirect. It is immutable and safe for
// concurrent use.
type Handler struct {
	code int
	when pipeline.When
	// location is the whole Location value when no return parameter is set;
	// otherwise Location = head + param + "=" + escaped URL + fragment.
	location, head, param, fragment string
}

// New returns the handler for c, with the target parsed once. It validates
// c itself, so it is safe to call without the registry.
func New(c Config) (pipeline.ErrorHandler, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{code: c.Code, when: c.When, location: c.To}
	if c.ReturnToQueryParam == "" {
		return h, nil
	}
	u, _ := url.Parse(c.To) // checked by Validate
	q := u.Query()
	q.Del(c.ReturnToQueryParam) // the return URL replaces it, as q.Set would
	if u.Fragment != "" {
		h.fragment = "#" + u.EscapedFragment()
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	h.head = u.String() + "?"
	if rest := q.Encode(); rest != "" {
		h.head += rest + "&"
	}
	h.param = url.QueryEscape(c.ReturnToQueryParam)
	return h, nil
}

// Handles reports whether the when conditions select err for r. Failures
// with a 5xx status are never redirected (see the package doc).
func (h *Handler) Handles(r *pipeline.Request, err error) bool {
	return pipeline.StatusOf(err) < 500 && h.when.Match(r, err)
}

// HandleError answers with the configured status, a Location header and an
// empty body. The original URL is query-escaped, so nothing from the request
// reaches the header unescaped (C-14).
func (h *Handler) HandleError(_ context.Context, r *pipeline.Request, _ error) (pipeline.Denial, error) {
	loc := h.location
	if h.param != "" {
		loc = h.head + h.param + "=" + url.QueryEscape(originalURL(r)) + h.fragment
	}
	return pipeline.Denial{Status: h.code, Header: pipeline.Header{"location": {loc}}}, nil
}

// originalURL rebuilds the URL the client asked for: scheme://host, the
// path as received (so the return trip hits the same resource) and the
// query.
func originalURL(r *pipeline.Request) string {
	if r == nil {
		return "/"
	}
	p := r.RawPath
	if p == "" {
		p = r.Path
	}
	if p == "" {
		p = "/"
	}
	s := p
	if r.Host != "" {
		scheme := r.Scheme
		if scheme == "" {
			scheme = "https"
		}
		s = scheme + "://" + r.Host + p
	}
	if r.RawQuery != "" {
		s += "?" + r.RawQuery
	}
	return s
}

var _ pipeline.ErrorHandler = (*Handler)(nil)
