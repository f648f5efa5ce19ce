package tmpl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"text/template/parse"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Errors of JSON.Execute for an output that must not be used; the caller
// fails the request closed. Execution errors wrap neither.
var (
	// ErrOutputNotJSON: the output is not exactly one JSON text.
	ErrOutputNotJSON = errors.New("output is not one JSON text")
	// ErrOutputStructure: the output is JSON, but has a duplicate member,
	// or a member, separator or bracket of the template's own objects and
	// arrays came from a value: a value broke out of its quotes.
	ErrOutputStructure = errors.New("output structure is not the template's")
)

// JSON is a template whose output is a JSON text, such as a remote_json
// payload or id_token claims. It renders as text, as in Oathkeeper, so
// values may be spliced in anywhere ("{{ .Subject }}" inside quotes, an
// unquoted {{ print .Extra.n }}). Every output is then checked before use:
//
//   - it is exactly one JSON text;
//   - no object, at any depth, has two members with the same name (JSON
//     parsers disagree on which one wins, so the receiver could read a
//     value the check did not see);
//   - every object or array opened by the template text is the
//     template's: its member names, its ',' and ':' and its closing
//     bracket are template text, not output of an action. A value such as
//     `a@b.c","admin":true,"x":"` therefore cannot add a member, whatever
//     depth it lands at;
//   - an object or array opened by an action ({{ toJson .Extra }}) is the
//     action's: it holds no template text, so a value cannot swallow the
//     template's members into a nested object;
//   - if the output is an object or array, the template text opened it,
//     so its top-level members are the ones the template writes. ParseJSON
//     refuses a template that starts with an action for the same reason.
//
// Members that the template text writes conditionally ({{ if }}, {{ range }})
// are the template's; member names computed by actions are not, and such
// a template fails every request. Write the computed part as one value
// instead: {"attrs": {{ toJson .Extra }}}.
type JSON struct {
	t *Template
	// text maps the first byte of every text node to its length, for
	// output.Write.
	text map[*byte]int
}

// ParseJSON compiles a template whose output must be a JSON text (see
// JSON). Besides Parse's errors it refuses a template whose output starts
// with an action, and a template without actions whose text is not valid
// under JSON's rules.
func ParseJSON(name, text string) (*JSON, error) {
	t, err := Parse(name, text)
	if err != nil {
		return nil, err
	}
	if n := leadingAction(t.t.Tree.Root); n != nil {
		loc, _ := t.t.Tree.ErrorContext(n)
		return nil, fmt.Errorf("template %s: a JSON template must start with its own text, not an action, so that "+
			"the members of the top-level object are the ones it writes: write e.g. {\"extra\": {{ toJson .Extra }}}", loc)
	}
	j := &JSON{t: t, text: map[*byte]int{}}
	for _, tt := range trees(t.t) {
		_ = walk(tt.Root, func(n parse.Node) error {
			if tn, ok := n.(*parse.TextNode); ok && len(tn.Text) > 0 {
				j.text[&tn.Text[0]] = len(tn.Text)
			}
			return nil
		})
	}
	if t.IsStatic() {
		if _, err := j.Execute(nil); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// Source returns the template text.
func (j *JSON) Source() string { return j.t.Source() }

// Execute renders the template over data and returns the output exactly
// as rendered (not re-encoded), after the checks described at JSON. An
// output that fails them is an error wrapping ErrOutputNotJSON or
// ErrOutputStructure; messages give byte offsets, never output content.
func (j *JSON) Execute(data any) ([]byte, error) {
	o := getOutput(j.text)
	defer putOutput(o)
	if s, ok := data.(*pipeline.Session); !ok || s == nil || j.t.fast == nil || !j.t.fast.executeJSON(o, s) {
		o.buf, o.lit = o.buf[:0], o.lit[:0] // the fast path may have written part of it
		if err := j.t.t.Execute(o, data); err != nil {
			return nil, fmt.Errorf("render template %s: %w", j.t.t.Name(), err)
		}
	}
	if !json.Valid(o.buf) {
		return nil, fmt.Errorf("render template %s: %w", j.t.t.Name(), ErrOutputNotJSON)
	}
	if err := checkStructure(o.buf, o.lit); err != nil {
		return nil, fmt.Errorf("render template %s: %w: %s", j.t.t.Name(), ErrOutputStructure, err)
	}
	return bytes.Clone(o.buf), nil
}

// leadingAction returns the action that can write the first non-space
// byte of the output of list, or nil if template text always does (or
// nothing is written). Branches of if, with and range are followed; an
// action that only declares or assigns a variable writes nothing.
func leadingAction(list *parse.ListNode) parse.Node {
	n, _ := leading(list)
	return n
}

// leading reports the leading action of list, and whether every path
// through list writes something, so that a caller knows whether the nodes
// after it can be first.
func leading(list *parse.ListNode) (action parse.Node, writes bool) {
	if list == nil {
		return nil, false
	}
	for _, n := range list.Nodes {
		var branches []*parse.ListNode
		switch n := n.(type) {
		case *parse.TextNode:
			if len(bytes.TrimSpace(n.Text)) > 0 {
				return nil, true
			}
			continue
		case *parse.ActionNode:
			if len(n.Pipe.Decl) > 0 {
				continue
			}
			return n, true
		case *parse.TemplateNode:
			return n, true
		case *parse.IfNode:
			branches = []*parse.ListNode{n.List, n.ElseList}
		case *parse.WithNode:
			branches = []*parse.ListNode{n.List, n.ElseList}
		case *parse.RangeNode:
			branches = []*parse.ListNode{n.List, n.ElseList}
		default:
			continue
		}
		all := true
		for _, b := range branches {
			a, w := leading(b)
			if a != nil {
				return a, true
			}
			all = all && w
		}
		if all {
			return nil, true
		}
	}
	return nil, false
}

// spans is a sorted list of disjoint byte ranges [start, end).
type spans []span

type span struct{ start, end int }

// add appends [start, end), which must not begin before the last range
// ends, merging touching ranges.
func (s spans) add(start, end int) spans {
	if n := len(s); n > 0 && s[n-1].end == start {
		s[n-1].end = end
		return s
	}
	return append(s, span{start, end})
}

// covers reports whether every byte of [start, end) is in s.
func (s spans) covers(start, end int) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].end > start })
	return i < len(s) && s[i].start <= start && end <= s[i].end
}

// touches reports whether some byte of [start, end) is in s.
func (s spans) touches(start, end int) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].end > start })
	return i < len(s) && s[i].start < end
}

// smallObject is how many member names of one object the duplicate check
// compares one by one; a larger object gets a map, so that the check stays
// linear in the size of the output.
const smallObject = 16

// checkStructure checks the rules described at JSON on b, a valid JSON
// text whose template-text bytes are lit.
func checkStructure(b []byte, lit spans) error {
	type frame struct {
		open     int
		object   bool
		template bool // opened by template text inside template containers
		wantKey  bool
		// first is the index in names of the object's first member name;
		// keys holds them instead once there are more than smallObject.
		first int
		keys  map[string]struct{}
	}
	// Most outputs nest a few levels and have a few members per object:
	// these arrays keep their check off the heap.
	var stackBuf [8]frame
	var namesBuf [32][]byte
	stack, names := stackBuf[:0], namesBuf[:0]
	for i := 0; i < len(b); i++ {
		var f *frame
		if len(stack) > 0 {
			f = &stack[len(stack)-1]
		}
		switch c := b[i]; c {
		case '{', '[':
			own := lit.covers(i, i+1) && (f == nil || f.template)
			if f == nil && !own {
				return fmt.Errorf("the top-level object or array at byte %d was written by an action", i)
			}
			stack = append(stack, frame{open: i, object: c == '{', template: own, wantKey: c == '{', first: len(names)})
		case '}', ']':
			if f.template && !lit.covers(i, i+1) {
				return fmt.Errorf("the object or array at byte %d is closed by a value at byte %d", f.open, i)
			}
			if !f.template && lit.touches(f.open, i+1) {
				return fmt.Errorf("the value at byte %d encloses template text", f.open)
			}
			names = names[:f.first]
			stack = stack[:len(stack)-1]
		case ',', ':':
			if f.template && !lit.covers(i, i+1) {
				return fmt.Errorf("separator at byte %d comes from a value", i)
			}
			if c == ',' && f.object {
				f.wantKey = true
			}
		case '"':
			end := stringEnd(b, i)
			if f != nil && f.object && f.wantKey {
				f.wantKey = false
				if f.template && !lit.covers(i, end) {
					return fmt.Errorf("member name at byte %d comes from a value", i)
				}
				name := b[i+1 : end-1] // a view of b: names live only while b is checked
				if bytes.IndexByte(name, '\\') >= 0 {
					var s string
					_ = json.Unmarshal(b[i:end], &s) // valid: checked by json.Valid
					name = []byte(s)
				}
				if f.keys != nil {
					if _, dup := f.keys[string(name)]; dup {
						return fmt.Errorf("duplicate member at byte %d", i)
					}
					f.keys[string(name)] = struct{}{}
				} else {
					for _, n := range names[f.first:] {
						if bytes.Equal(n, name) {
							return fmt.Errorf("duplicate member at byte %d", i)
						}
					}
					// The names of the frames above f were dropped when they
					// closed, so f's are the last ones.
					names = append(names, name)
					if len(names)-f.first > smallObject {
						f.keys = make(map[string]struct{}, 2*smallObject)
						for _, n := range names[f.first:] {
							f.keys[string(n)] = struct{}{}
						}
						names = names[:f.first]
					}
				}
			}
			i = end - 1
		}
	}
	return nil
}

// stringEnd returns the index after the closing quote of the JSON string
// that starts at b[start].
func stringEnd(b []byte, start int) int {
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b) // not reached for valid JSON
}
