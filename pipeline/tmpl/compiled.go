package tmpl

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"text/template/parse"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// A compiled template renders the forms rules actually use — text around
// .Subject, .Extra.a[.b…], .MatchContext.Header.Get "x" and printIndex of
// the capture groups, bare or under print, and jsonQuote of .Subject or
// .Extra.a[.b…] — straight from a
// *pipeline.Session, without text/template's reflection. It never guesses:
// when a value is of a type whose printing it does not reproduce exactly,
// or text/template would fail, it reports !ok and Execute falls back to
// text/template, which then renders (or fails) as it always has.
type compiled []part

// part is one text node or one action of a compiled template.
type part struct {
	text string
	// kind says which action this is; kindText for a text node.
	kind  partKind
	print bool     // under print: nil renders "", not "<no value>"
	quote bool     // under jsonQuote: the value as JSON, for kindSubject and kindExtra
	path  []string // the keys under .Extra, for kindExtra
	arg   string   // the header name, for kindHeader
	index int      // the printIndex index, for kindCapture
}

type partKind uint8

const (
	kindText partKind = iota
	kindSubject
	kindExtra
	kindHeader
	kindCapture
)

// compile recognises root, the single parse tree of a template, or
// returns nil if any node is outside the compiled forms.
func compile(root *parse.ListNode) compiled {
	if root == nil {
		return nil
	}
	var c compiled
	for _, n := range root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			c = append(c, part{text: string(n.Text)})
		case *parse.ActionNode:
			p, ok := compileAction(n.Pipe)
			if !ok {
				return nil
			}
			c = append(c, p)
		default:
			return nil
		}
	}
	return c
}

// compileAction recognises {{ F }}, {{ print F }}, {{ .MatchContext.Header.Get "x" }}
// and {{ printIndex .MatchContext.RegexpCaptureGroups N }}.
func compileAction(pipe *parse.PipeNode) (part, bool) {
	if pipe == nil || pipe.IsAssign || len(pipe.Decl) > 0 || len(pipe.Cmds) != 1 {
		return part{}, false
	}
	args := pipe.Cmds[0].Args
	if id, ok := args[0].(*parse.IdentifierNode); ok {
		switch {
		case id.Ident == "print" && len(args) == 2:
			p, ok := compileField(args[1])
			p.print = true
			return p, ok
		case id.Ident == "jsonQuote" && len(args) == 2:
			p, ok := compileField(args[1])
			p.quote = true
			return p, ok
		case id.Ident == "printIndex" && len(args) == 3:
			f, ok := args[1].(*parse.FieldNode)
			num, isNum := args[2].(*parse.NumberNode)
			if !ok || !isNum || !num.IsInt || num.Int64 < math.MinInt32 || num.Int64 > math.MaxInt32 ||
				!sameIdents(f.Ident, "MatchContext", "RegexpCaptureGroups") {
				return part{}, false
			}
			return part{kind: kindCapture, index: int(num.Int64)}, true
		}
		return part{}, false
	}
	if len(args) == 2 {
		f, ok := args[0].(*parse.FieldNode)
		s, isStr := args[1].(*parse.StringNode)
		if !ok || !isStr || !sameIdents(f.Ident, "MatchContext", "Header", "Get") {
			return part{}, false
		}
		return part{kind: kindHeader, arg: s.Text}, true
	}
	if len(args) != 1 {
		return part{}, false
	}
	return compileField(args[0])
}

// compileField recognises .Subject and .Extra.a[.b…].
func compileField(n parse.Node) (part, bool) {
	f, ok := n.(*parse.FieldNode)
	if !ok {
		return part{}, false
	}
	switch {
	case sameIdents(f.Ident, "Subject"):
		return part{kind: kindSubject}, true
	case len(f.Ident) >= 2 && f.Ident[0] == "Extra":
		return part{kind: kindExtra, path: f.Ident[1:]}, true
	}
	return part{}, false
}

func sameIdents(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// execute renders c over s, or reports !ok when text/template must.
func (c compiled) execute(s *pipeline.Session) (string, bool) {
	if len(c) == 1 { // a lone action: its string needs no copy
		out, ok := c[0].render(s)
		return out, ok && len(out) <= MaxOutputBytes // else text/template reports the error
	}
	o := getOutput(nil)
	defer putOutput(o)
	for i := range c {
		if c[i].kind == kindText {
			o.buf = append(o.buf, c[i].text...)
		} else {
			v, ok := c[i].render(s)
			if !ok {
				return "", false
			}
			o.buf = append(o.buf, v...)
		}
		if len(o.buf) > MaxOutputBytes {
			return "", false // text/template reports the error
		}
	}
	return string(o.buf), true
}

// executeJSON renders c over s into o for JSON.Execute, recording the
// bytes of text parts as template text, exactly as output.Write does for
// text/template's Writes of text nodes, or reports !ok (o then holds a
// partial rendering) when text/template must.
func (c compiled) executeJSON(o *output, s *pipeline.Session) bool {
	for i := range c {
		v, ok := c[i].render(s)
		if !ok || len(v) > MaxOutputBytes-len(o.buf) {
			return false // text/template renders it or reports the error
		}
		// An empty text part writes nothing: a zero-length span would
		// count as template text for spans.touches.
		if c[i].kind == kindText && len(v) > 0 {
			o.lit = o.lit.add(len(o.buf), len(o.buf)+len(v))
		}
		o.buf = append(o.buf, v...)
	}
	return true
}

// render returns the output of p.
func (p *part) render(s *pipeline.Session) (string, bool) {
	if p.quote {
		return p.renderQuoted(s)
	}
	switch p.kind {
	case kindText:
		return p.text, true
	case kindSubject:
		return s.Subject, true
	case kindHeader:
		return s.MatchContext.Header.Get(p.arg), true
	case kindCapture:
		if l := s.MatchContext.RegexpCaptureGroups; p.index >= 0 && p.index < len(l) {
			return l[p.index], true
		}
		return "", true
	}
	v, ok := p.extra(s)
	if !ok {
		return "", false
	}
	if v == nil { // missing key or null claim
		if p.print {
			return "", true
		}
		return "<no value>", true
	}
	return formatValue(v)
}

// extra returns the value at p.path under .Extra: nil for a missing key
// (missingkey=zero gives a map[string]any's zero element), !ok where
// text/template would fail or call a method.
func (p *part) extra(s *pipeline.Session) (any, bool) {
	var v any = s.Extra
	for _, k := range p.path {
		m, ok := v.(map[string]any)
		if !ok {
			// A nil or non-map value in the middle of the chain is an
			// error (or a method call) for text/template.
			return nil, false
		}
		v = m[k]
	}
	return v, true
}

// renderQuoted is jsonQuote of .Subject or .Extra.a[.b…]: the same
// json.Marshal of the same value. A value json.Marshal refuses reports
// !ok, so that text/template reports the error as it always has.
func (p *part) renderQuoted(s *pipeline.Session) (string, bool) {
	var v any = s.Subject
	if p.kind == kindExtra {
		var ok bool
		if v, ok = p.extra(s); !ok {
			return "", false
		}
	}
	q, err := jsonQuote(v)
	return q, err == nil
}

// formatValue is fmt's %v for the value types claims decode to, which is
// also what text/template prints for them; !ok for any other type.
func formatValue(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case json.Number:
		return string(v), true
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case map[string]any, []any, []string:
		// Composite values print their elements with fmt, as
		// text/template does; rare in headers, so no fast path.
		return fmt.Sprint(v), true
	}
	return "", false
}
