package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// configLocator turns service-config problems into one line each that
// says where to look: `config.yaml:12: serve.grpc.prot: unknown key (did
// you mean "serve.grpc.port"?)`. Keys set by the environment name their
// variable instead of a line.
type configLocator struct {
	file   string
	lines  map[string]int
	env    map[string]string // dotted key -> PORTCULLIS_ variable
	failed map[string]bool   // keys whose value did not decode
}

func newConfigLocator(path string, data []byte, env map[string]string) *configLocator {
	return &configLocator{file: displayName(path), lines: rulestore.LineIndex(data), env: env, failed: map[string]bool{}}
}

// configError is one located problem; line 0 is unknown.
type configError struct {
	line int
	msg  string
}

func (e *configError) Error() string { return e.msg }

func (l *configLocator) errorf(key, format string, args ...any) error {
	msg := key + ": " + fmt.Sprintf(format, args...)
	if v := l.envVar(key); v != "" {
		return &configError{msg: fmt.Sprintf("%s: %s (set by %s)", l.file, msg, v)}
	}
	if n := l.line(key); n > 0 {
		return &configError{line: n, msg: fmt.Sprintf("%s:%d: %s", l.file, n, msg)}
	}
	return &configError{msg: fmt.Sprintf("%s: %s", l.file, msg)}
}

// envVar names the variable that set key, or a key below it, unless the
// file has the key.
func (l *configLocator) envVar(key string) string {
	if v, ok := l.env[key]; ok {
		return v
	}
	if l.lines[key] > 0 {
		return ""
	}
	for _, k := range sortedKeys(l.env) {
		if strings.HasPrefix(k, key+".") {
			return l.env[k]
		}
	}
	return ""
}

// line finds the line of key, or of its closest ancestor in the file
// (errors.fallback[0] is reported on the line of errors.fallback).
func (l *configLocator) line(key string) int {
	for key != "" {
		if n := l.lines[key]; n > 0 {
			return n
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

// byLine orders errors as the file reads, those without a line last.
func byLine(errs []error) []error {
	lineOf := func(e error) int {
		var ce *configError
		if errors.As(e, &ce) && ce.line > 0 {
			return ce.line
		}
		return math.MaxInt
	}
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(lineOf(a), lineOf(b)) })
	return errs
}

// unknownKeys reports every key of the merged config tree that Config
// does not have, each with a did-you-mean.
func (l *configLocator) unknownKeys(tree map[string]any) []error {
	var errs []error
	for _, u := range pipeline.UnknownFields(tree, reflect.TypeFor[Config]()) {
		hint := ""
		if s := pipeline.Suggest(u.Key, u.Known); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", joinKey(u.Parent, s))
		}
		errs = append(errs, l.errorf(u.Path(), "unknown key%s", hint))
	}
	return errs
}

// CheckHandlers reports, one line each, every entry of the handler
// sections (authenticators, authorizers, mutators, errors.handlers) that
// names no handler registered in reg, with a did-you-mean: a misspelt
// section is otherwise silently ignored, and the handler it meant keeps
// its defaults.
func (c *Config) CheckHandlers(reg *pipeline.Registry) error {
	loc := c.loc
	if loc == nil {
		loc = newConfigLocator("", nil, nil)
	}
	var errs []error
	for _, s := range []struct {
		key      string
		kind     pipeline.Kind
		handlers map[string]pipeline.HandlerConfig
	}{
		{"authenticators", pipeline.KindAuthenticator, c.Authenticators},
		{"authorizers", pipeline.KindAuthorizer, c.Authorizers},
		{"mutators", pipeline.KindMutator, c.Mutators},
		{"errors.handlers", pipeline.KindErrorHandler, c.Errors.Handlers},
	} {
		names := reg.Names(s.kind)
		for _, name := range slices.Sorted(maps.Keys(s.handlers)) {
			if !reg.Has(s.kind, name) {
				errs = append(errs, loc.errorf(s.key+"."+name, "unknown handler%s (known: %s)",
					pipeline.DidYouMean(name, names), strings.Join(names, ", ")))
			}
		}
	}
	return errors.Join(byLine(errs)...)
}

// decodeErrors translates mapstructure's errors (which name Go types and
// write map keys as a[b]) into one line per key.
func (l *configLocator) decodeErrors(err error) []error {
	if err == nil {
		return nil
	}
	// Drop mapstructure's "decoding failed due to the following error(s)"
	// around the list.
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "decoding failed") {
		err = u
	}
	var out []error
	for _, leaf := range rulestore.ErrorLeaves(err) {
		var de *mapstructure.DecodeError
		if !errors.As(leaf, &de) {
			out = append(out, fmt.Errorf("%s: %w", l.file, leaf))
			continue
		}
		key := bracketKey.ReplaceAllString(de.Name(), ".$1")
		l.failed[key] = true
		var ue *mapstructure.UnconvertibleTypeError
		var pe *mapstructure.ParseError
		switch {
		case errors.As(de, &ue):
			out = append(out, l.errorf(key, "must be %s, not %s", pipeline.KindName(ue.Expected.Type()), valueKind(ue.Value)))
		case errors.As(de, &pe):
			out = append(out, l.errorf(key, "must be %s, not %q", pipeline.KindName(pe.Expected.Type()), fmt.Sprint(pe.Value)))
		default:
			out = append(out, l.errorf(key, "%s", shapeMessage(de.Unwrap().Error())))
		}
	}
	return out
}

// bracketKey matches mapstructure's map-key notation, authenticators[jwt].
var bracketKey = regexp.MustCompile(`\[([^\]]*[^\d\]][^\]]*)\]`)

// shapeMessages are mapstructure's plain-text shape errors, which name
// Go kinds ("slice", "map").
var shapeMessages = []struct {
	re   *regexp.Regexp
	want string
}{
	{regexp.MustCompile(`^expected a map or struct, got "?(\w+)"?$`), "an object"},
	{regexp.MustCompile(`^source data must be an array or slice, got "?(\w+)"?$`), "a list"},
}

// shapeMessage rewrites a shape error as "must be an object, not a list".
func shapeMessage(msg string) string {
	for _, m := range shapeMessages {
		if sub := m.re.FindStringSubmatch(msg); sub != nil {
			return fmt.Sprintf("must be %s, not %s", m.want, goKindName(sub[1]))
		}
	}
	return msg
}

func goKindName(kind string) string {
	switch {
	case kind == "slice" || kind == "array":
		return "a list"
	case kind == "map" || kind == "struct":
		return "an object"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "true or false"
	case strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "uint") || strings.HasPrefix(kind, "float"):
		return "a number"
	}
	return "null"
}

func valueKind(v any) string {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return fmt.Sprintf("%q", v)
	case reflect.Bool:
		return "true or false"
	case reflect.Invalid:
		return "null"
	}
	return fmt.Sprint(v)
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
