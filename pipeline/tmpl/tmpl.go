// Package tmpl compiles the Go text/templates that rules use in header,
// cookie, claims and payload configs, with Oathkeeper's function set: all
// of sprig's text functions plus print and printIndex. Templates are parsed
// once at rule-compile time; Execute is safe for concurrent use.
package tmpl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/portcullis-authz/portcullis/pipeline"
)

var (
	funcsOnce sync.Once
	funcs     template.FuncMap
)

// Funcs returns the template function map: sprig's TxtFuncMap plus
//   - print X: "" for nil, else fmt's %v (Oathkeeper's one-argument print);
//   - printIndex LIST I: "" when out of range, else %v of LIST[I];
//   - jsonQuote X: X as a JSON value (strings quoted and escaped), for
//     building JSON payloads from untrusted values.
//
// The map is built once and must not be modified.
func Funcs() template.FuncMap {
	funcsOnce.Do(func() {
		funcs = sprig.TxtFuncMap()
		funcs["print"] = func(v any) string {
			if v == nil {
				return ""
			}
			return fmt.Sprintf("%v", v)
		}
		funcs["printIndex"] = func(list any, i int) string {
			switch l := list.(type) {
			case []string:
				if i >= 0 && i < len(l) {
					return l[i]
				}
			case []any:
				if i >= 0 && i < len(l) && l[i] != nil {
					return fmt.Sprintf("%v", l[i])
				}
			}
			return ""
		}
		funcs["jsonQuote"] = func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		}
	})
	return funcs
}

// Template is one compiled template.
type Template struct {
	t   *template.Template
	src string
	// subjectOnly marks "{{ .Subject }}" and "{{ print .Subject }}", the
	// most common header template, which Execute answers without
	// text/template's reflection when the data is a *pipeline.Session.
	subjectOnly bool
}

var subjectOnly = regexp.MustCompile(`^\{\{-?\s*(print\s+)?\.Subject\s*-?\}\}$`)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Parse compiles text. A missing map key renders as Go's "<no value>", as
// in Oathkeeper; use print to get "" instead.
func Parse(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=zero").Funcs(Funcs()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	return &Template{t: t, src: text, subjectOnly: subjectOnly.MatchString(text)}, nil
}

// MustParse is Parse for templates known to be valid; it panics otherwise.
func MustParse(name, text string) *Template {
	t, err := Parse(name, text)
	if err != nil {
		panic(err)
	}
	return t
}

// Source returns the template text.
func (t *Template) Source() string { return t.src }

// IsStatic reports whether the template has no actions, so callers may use
// the source text directly and skip Execute.
func (t *Template) IsStatic() bool { return !strings.Contains(t.src, "{{") }

// Execute renders the template over data.
func (t *Template) Execute(data any) (string, error) {
	if t.IsStatic() {
		return t.src, nil
	}
	if t.subjectOnly {
		if s, ok := data.(*pipeline.Session); ok && s != nil {
			return s.Subject, nil
		}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.t.Execute(buf, data); err != nil {
		return "", fmt.Errorf("render template %s: %w", t.t.Name(), err)
	}
	return buf.String(), nil
}

// ExecuteJSON renders the template and checks that the result is valid
// JSON, so a value that broke out of its quotes fails closed instead of
// reaching a remote service as a different document.
func (t *Template) ExecuteJSON(data any) ([]byte, error) {
	s, err := t.Execute(data)
	if err != nil {
		return nil, err
	}
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("render template %s: output is not valid JSON", t.t.Name())
	}
	return []byte(s), nil
}
