package jwt

import (
	"bytes"
	"encoding/json"
)

// uniqueMembers reports whether no object in the JSON document b has two
// members of the same name (after unescaping). b must already be valid
// JSON (json.Unmarshal accepted it), so the walk only tracks structure; it
// allocates nothing for the usual small objects whose names have no
// escapes.
func uniqueMembers(b []byte) bool {
	w := walker{b: b}
	return w.value()
}

type walker struct {
	b []byte
	i int
}

func (w *walker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\r', '\n':
			w.i++
		default:
			return
		}
	}
}

func (w *walker) value() bool {
	w.ws()
	if w.i >= len(w.b) {
		return true
	}
	switch w.b[w.i] {
	case '{':
		return w.object()
	case '[':
		w.i++
		for {
			w.ws()
			if w.i >= len(w.b) || w.b[w.i] == ']' {
				w.i++
				return true
			}
			start := w.i
			if !w.value() {
				return false
			}
			w.ws()
			if w.i < len(w.b) && w.b[w.i] == ',' {
				w.i++
			}
			if w.i == start {
				return false // not valid JSON; never loop forever
			}
		}
	case '"':
		w.str()
	default: // number, true, false, null
		for w.i < len(w.b) && !endOfLiteral(w.b[w.i]) {
			w.i++
		}
	}
	return true
}

func endOfLiteral(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// object walks one object. Names are compared linearly while few, then
// through a map, so a hostile header with thousands of members stays
// linear.
func (w *walker) object() bool {
	w.i++
	var buf [16][]byte
	names := buf[:0]
	var set map[string]struct{}
	for {
		w.ws()
		if w.i >= len(w.b) || w.b[w.i] == '}' {
			w.i++
			return true
		}
		if w.b[w.i] != '"' {
			return false // not valid JSON; never loop forever
		}
		name := w.name()
		if set == nil {
			for _, n := range names {
				if bytes.Equal(n, name) {
					return false
				}
			}
			names = append(names, name)
			if len(names) > 32 {
				set = make(map[string]struct{}, 2*len(names))
				for _, n := range names {
					set[string(n)] = struct{}{}
				}
			}
		} else {
			if _, dup := set[string(name)]; dup {
				return false
			}
			set[string(name)] = struct{}{}
		}
		w.ws()
		w.i++ // ':'
		if !w.value() {
			return false
		}
		w.ws()
		if w.i < len(w.b) && w.b[w.i] == ',' {
			w.i++
		}
	}
}

// name reads a member name and returns it unescaped.
func (w *walker) name() []byte {
	start := w.i
	escaped := w.str()
	raw := w.b[start:w.i]
	if !escaped {
		return raw[1 : len(raw)-1]
	}
	var s string
	_ = json.Unmarshal(raw, &s) // valid JSON, cannot fail
	return []byte(s)
}

// str skips a string starting at its opening quote and reports whether it
// contains an escape.
func (w *walker) str() (escaped bool) {
	w.i++
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case '\\':
			escaped = true
			w.i += 2
			continue
		case '"':
			w.i++
			return escaped
		}
		w.i++
	}
	return escaped
}
