package apikey

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultHeader is where the key is read from when in is not set.
const DefaultHeader = "X-API-Key"

// Config is the api_key authenticator's config.
type Config struct {
	// KeysFile is a JSON or YAML list of {id, hash, subject, extra}. It is
	// read when the rule compiles (start-up and every rule reload). A
	// relative path is relative to the working directory.
	KeysFile string `json:"keys_file"`
	// In says where the key is: exactly one of header, query_parameter,
	// cookie (default header X-API-Key).
	In *In `json:"in"`
	// Prefix, if set, must start the value (compared ignoring ASCII case,
	// as HTTP auth schemes are) and is removed, e.g. "ApiKey " for
	// "Authorization: ApiKey <key>". A value without it is not ours.
	Prefix string `json:"prefix"`
}

// In is the location of the key, in the shape of Oathkeeper's token_from.
type In struct {
	// Header names a request header (any case).
	Header string `json:"header"`
	// QueryParameter names a query parameter (case-sensitive).
	QueryParameter string `json:"query_parameter"`
	// Cookie names a cookie (case-sensitive).
	Cookie string `json:"cookie"`
}

// Validate applies defaults and checks every key except the file's
// contents, which New reads.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.KeysFile) == "" {
		errs = append(errs, errors.New("keys_file: required"))
	}
	if c.In == nil {
		c.In = &In{Header: DefaultHeader}
	}
	n := 0
	for _, v := range [...]string{c.In.Header, c.In.QueryParameter, c.In.Cookie} {
		if v != "" {
			n++
		}
	}
	switch {
	case n != 1:
		errs = append(errs, errors.New("in: set exactly one of header, query_parameter, cookie"))
	case c.In.Header != "" && !isToken(c.In.Header):
		errs = append(errs, fmt.Errorf("in.header: invalid header name %q", c.In.Header))
	case c.In.Cookie != "" && !isToken(c.In.Cookie):
		errs = append(errs, fmt.Errorf("in.cookie: invalid cookie name %q", c.In.Cookie))
	}
	if strings.TrimSpace(c.Prefix) == "" && c.Prefix != "" || !printable(c.Prefix) {
		errs = append(errs, fmt.Errorf("prefix: invalid prefix %q", c.Prefix))
	}
	return errors.Join(errs...)
}

// isToken reports whether s is an RFC 9110 token (header and cookie names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// printable rejects ASCII control characters.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
