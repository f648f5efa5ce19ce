// Package tmpl compiles the Go text/templates that rules use in header,
// cookie, claims and payload configs, with Oathkeeper's function set made
// hermetic: sprig's text functions minus those that reach outside the
// template (environment, network, clock, randomness, key generation) or
// change their arguments, plus print and printIndex. A template renders
// the same output for the same data, and nothing else.
//
// Templates are parsed once at rule-compile time; Execute is safe for
// concurrent use. ParseJSON compiles templates whose output is a JSON text
// and checks every output's structure before it is used (see JSON).
package tmpl

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Template is one compiled template.
type Template struct {
	t   *template.Template
	src string
	// fast renders the forms rules use most (see compiled) without
	// text/template's reflection when the data is a *pipeline.Session;
	// nil for any other template.
	fast compiled
}

// Parse compiles text. A missing map key renders as Go's "<no value>", as
// in Oathkeeper; use print to get "" instead. A call of a function that
// Unavailable lists is an error naming the function, its position and why.
func Parse(name, text string) (*Template, error) {
	Funcs() // builds parseFuncs
	t, err := template.New(name).Option("missingkey=zero").Funcs(parseFuncs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parse template: %w", err)
	}
	for _, tt := range trees(t) {
		err := walk(tt.Root, func(n parse.Node) error {
			id, ok := n.(*parse.IdentifierNode)
			if !ok {
				return nil
			}
			reason, bad := removed[id.Ident]
			if !bad {
				return nil
			}
			loc, _ := tt.ErrorContext(n)
			return fmt.Errorf("template %s: function %q is not available in rule templates: %s", loc, id.Ident, reason)
		})
		if err != nil {
			return nil, err
		}
	}
	tp := &Template{t: t, src: text}
	if len(t.Templates()) == 1 { // no {{ define }}d templates to call
		tp.fast = compile(t.Tree.Root)
	}
	return tp, nil
}

// trees returns the parse trees of t and of the templates it defines, by
// name so that errors are reported in a stable order.
func trees(t *template.Template) []*parse.Tree {
	var out []*parse.Tree
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			out = append(out, tt.Tree)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// walk calls fn for n and every node below it, in source order, and stops
// at the first error.
func walk(n parse.Node, fn func(parse.Node) error) error {
	if err := fn(n); err != nil {
		return err
	}
	var kids []parse.Node
	add := func(ns ...parse.Node) {
		for _, k := range ns {
			// Optional parts (else lists, a template call's pipeline) are
			// typed nil pointers.
			switch k := k.(type) {
			case *parse.ListNode:
				if k == nil {
					continue
				}
			case *parse.PipeNode:
				if k == nil {
					continue
				}
			}
			kids = append(kids, k)
		}
	}
	switch n := n.(type) {
	case *parse.ListNode:
		add(n.Nodes...)
	case *parse.ActionNode:
		add(n.Pipe)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			add(c)
		}
	case *parse.CommandNode:
		add(n.Args...)
	case *parse.ChainNode:
		add(n.Node)
	case *parse.IfNode:
		add(n.Pipe, n.List, n.ElseList)
	case *parse.RangeNode:
		add(n.Pipe, n.List, n.ElseList)
	case *parse.WithNode:
		add(n.Pipe, n.List, n.ElseList)
	case *parse.TemplateNode:
		add(n.Pipe)
	}
	for _, k := range kids {
		if err := walk(k, fn); err != nil {
			return err
		}
	}
	return nil
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
	if t.fast != nil {
		if s, ok := data.(*pipeline.Session); ok && s != nil {
			if out, ok := t.fast.execute(s); ok {
				return out, nil
			}
		}
	}
	o := getOutput(nil)
	defer putOutput(o)
	if err := t.t.Execute(o, data); err != nil {
		return "", fmt.Errorf("render template %s: %w", t.t.Name(), err)
	}
	return string(o.buf), nil
}

// errTooLong stops a rendering that exceeds MaxOutputBytes.
var errTooLong = fmt.Errorf("output exceeds %d bytes", MaxOutputBytes)

// output collects one rendering, at most MaxOutputBytes. For a JSON
// template it also records which bytes are the template's own text (see
// JSON.Execute).
type output struct {
	buf []byte
	// text maps the first byte of each text node of the template to its
	// length; nil when provenance is not needed.
	text map[*byte]int
	// lit lists the byte ranges of buf written from text nodes.
	lit spans
}

// Write appends p. text/template writes each text node with one Write of
// the node's own bytes, while an action's output arrives from fmt's
// buffer, so a Write whose first byte is a text node's first byte (and
// whose length is the node's) is template text.
func (o *output) Write(p []byte) (int, error) {
	if len(p) > MaxOutputBytes-len(o.buf) {
		return 0, errTooLong
	}
	if o.text != nil && len(p) > 0 && o.text[&p[0]] == len(p) {
		o.lit = o.lit.add(len(o.buf), len(o.buf)+len(p))
	}
	o.buf = append(o.buf, p...)
	return len(p), nil
}

var outputPool = sync.Pool{New: func() any { return new(output) }}

func getOutput(text map[*byte]int) *output {
	o := outputPool.Get().(*output)
	o.text = text
	return o
}

func putOutput(o *output) {
	if cap(o.buf) > 64<<10 {
		return // let a rare large rendering go rather than pin its memory
	}
	o.buf, o.lit, o.text = o.buf[:0], o.lit[:0], nil
	outputPool.Put(o)
}
