package pipeline

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// RuleSpec is one access rule in Oathkeeper's format, as decoded from a rule
// file or an xDS resource. It is input to Compile and never used on the
// request path.
type RuleSpec struct {
	ID          string     `json:"id"`
	Version     string     `json:"version,omitempty"`
	Description string     `json:"description,omitempty"`
	Match       *MatchSpec `json:"match"`
	// Priority is a Portcullis extension: among the rules matching a
	// request, the highest priority wins; equal priorities are still an
	// ambiguous match. Default 0.
	Priority int `json:"priority,omitempty"`
	// Mode is a Portcullis extension: "enforce" (default) or "shadow". A
	// shadow rule runs fully but never denies: the would-be decision is
	// logged and counted, and the request goes upstream (Decision.Shadow).
	Mode string `json:"mode,omitempty"`
	// Authenticators are tried in order; the first responsible one wins.
	Authenticators []HandlerSpec `json:"authenticators"`
	// Authorizer is Oathkeeper's single authorizer.
	Authorizer *HandlerSpec `json:"authorizer,omitempty"`
	// Authorizers is a Portcullis extension: every one must allow, in order.
	// A rule sets Authorizer or Authorizers, not both.
	Authorizers []HandlerSpec `json:"authorizers,omitempty"`
	Mutators    []HandlerSpec `json:"mutators"`
	Errors      []HandlerSpec `json:"errors,omitempty"`
	// Upstream is Oathkeeper's reverse-proxy target. Envoy does the routing,
	// so it is loaded and ignored (with a warning).
	Upstream *UpstreamSpec `json:"upstream,omitempty"`

	// Source names where the rule came from ("rules/orders.yaml"), for
	// error messages. Line is the rule's line in it (0 when unknown, as
	// for rules not read from a file). Index is its position in that
	// source.
	Source string `json:"-"`
	Line   int    `json:"-"`
	Index  int    `json:"-"`
}

// MatchSpec selects the requests a rule applies to.
type MatchSpec struct {
	// URL is matched against scheme://host/cleaned-path; <...> delimits
	// regexp (or glob) parts.
	URL string `json:"url"`
	// Methods are compared case-insensitively; an empty list never matches.
	Methods []string `json:"methods"`
	// Headers is a Portcullis extension: header name (case-insensitive)
	// to the exact value or "<...>" pattern its first value must match,
	// in the rule's matching strategy. Every listed header must match.
	Headers map[string]string `json:"headers,omitempty"`
}

// Rule modes (RuleSpec.Mode).
const (
	ModeEnforce = "enforce"
	ModeShadow  = "shadow"
)

// HandlerSpec names a handler and its per-rule config override.
type HandlerSpec struct {
	Handler string         `json:"handler"`
	Config  map[string]any `json:"config,omitempty"`
	// Fallthrough (authenticators only) lets the next authenticator try when
	// this one fails, instead of Oathkeeper's "first error stops". The last
	// failure is reported if no later authenticator succeeds.
	Fallthrough bool `json:"fallthrough,omitempty"`
}

// UpstreamSpec is Oathkeeper's upstream block (ignored by Portcullis).
type UpstreamSpec struct {
	URL          string `json:"url,omitempty"`
	PreserveHost bool   `json:"preserve_host,omitempty"`
	StripPath    string `json:"strip_path,omitempty"`
}

// Where returns the location prefix used in error messages, in the
// file:line form editors jump to: `rules.yaml:12: rules[3] (id "orders")`
// (`rules.yaml: rules[3] ...` when the line is unknown).
func (s *RuleSpec) Where() string {
	var b strings.Builder
	if s.Source != "" {
		b.WriteString(s.Source)
		if s.Line > 0 {
			fmt.Fprintf(&b, ":%d", s.Line)
		}
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "rules[%d]", s.Index)
	if s.ID != "" {
		fmt.Fprintf(&b, " (id %q)", s.ID)
	}
	return b.String()
}

// HandlerConfig is one handler's global section: whether rules may use it
// and its default config, which a rule's config deep-merges over.
type HandlerConfig struct {
	Enabled bool           `json:"enabled"`
	Config  map[string]any `json:"config,omitempty"`
}

// Config is the part of the service configuration Compile needs.
type Config struct {
	Authenticators map[string]HandlerConfig
	Authorizers    map[string]HandlerConfig
	Mutators       map[string]HandlerConfig
	ErrorHandlers  map[string]HandlerConfig
	// ErrorFallback lists the error handlers tried, in order, when no rule
	// error handler matched. Default ["json"].
	ErrorFallback []string
	// MatchingStrategy is "regexp" (default) or "glob".
	MatchingStrategy string
	// NoMatchStatus is the status when no rule matches: 404 (default), 401
	// or 403.
	NoMatchStatus int
	// MaxPathLength bounds the raw request path in bytes, query excluded;
	// a longer path is a 400. 0 means DefaultMaxPathLength.
	MaxPathLength int
	// MaxPathSegments bounds the '/'-separated segments of the raw path;
	// more is a 400. 0 means DefaultMaxPathSegments.
	MaxPathSegments int
	// CaseSensitiveUpstreams turns off the path case guard: by default a
	// request whose path differs from a rule's literal path prefix only in
	// letter case, and that another rule matches, is a 400, because an
	// upstream that ignores case would serve it as the first rule's path.
	// Set it when every upstream compares paths case-sensitively.
	CaseSensitiveUpstreams bool
	// ShadowRules lists rule ids run in shadow mode whatever their mode
	// (see RuleSpec.Mode), to roll out a rule set without risk. Every id
	// must name a rule.
	ShadowRules []string
}

// Defaults of Config's path limits.
const (
	DefaultMaxPathLength   = 4096
	DefaultMaxPathSegments = 128
)

func (c *Config) section(k Kind) map[string]HandlerConfig {
	switch k {
	case KindAuthenticator:
		return c.Authenticators
	case KindAuthorizer:
		return c.Authorizers
	case KindMutator:
		return c.Mutators
	default:
		return c.ErrorHandlers
	}
}

// FieldError locates a config or rule error: Path reads from the source
// file to the field, e.g. `rules.yaml: rules[3] (id "x"): authenticators[1]
// (jwt): config: jwks_urls: ...`.
type FieldError struct {
	Path string
	Err  error
}

// Error implements error.
func (e *FieldError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FieldError) Unwrap() error { return e.Err }

// Duration is a time.Duration that decodes from Go duration strings ("30s",
// "1m") as Oathkeeper configs write them, or from a number of nanoseconds.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("invalid duration %q", x)
		}
		*d = Duration(p)
	case float64:
		*d = Duration(time.Duration(x))
	case nil:
		*d = 0
	default:
		return fmt.Errorf("invalid duration %v", x)
	}
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }
