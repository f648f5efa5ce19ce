package rulestore

import (
	"bytes"
)

// simpleYAML parses text, a block of a rule file written as a block list
// (blockItems), into the tree yaml.v2's Unmarshal into an interface{}
// gives, for the plain form rule files are usually written in, several
// times faster. It takes only:
//   - printable ASCII lines without trailing spaces;
//   - items starting "- key:" at the left margin, whose mappings go on in
//     lines "key: value" indented to the first key, and nested mappings
//     ("key:" then lines indented further);
//   - keys of letters, digits, '_' and '-', starting with a letter, of up
//     to simpleMaxKey bytes;
//   - values that are one-line flow mappings and lists, double-quoted
//     strings without escapes, and plain strings of letters, digits,
//     spaces and "_./-", starting with a letter;
//
// and ok is false for anything else: comments, tabs, single quotes,
// escapes, anchors, tags, multi-line scalars, numbers, a key twice in a
// mapping, and a word YAML reads as other than a string (true, on, y,
// null...). The caller then parses the text with yaml.v2.
func simpleYAML(text []byte) (items []any, ok bool) {
	for _, c := range text {
		if (c < 0x20 || c > 0x7e) && c != '\n' {
			return nil, false
		}
	}
	// open are the mappings that lines at their indent go on.
	type open struct {
		indent int
		m      map[any]any
	}
	var stack []open
	var pending map[any]any // the value of a "key:" line, waiting for its keys
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] == ' ' {
			return nil, false
		}
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		switch {
		case pending != nil:
			if indent <= stack[len(stack)-1].indent {
				return nil, false // "key:" alone: null, or a list
			}
			stack = append(stack, open{indent, pending})
			pending = nil
		case indent == 0:
			if len(line) < 3 || line[0] != '-' || line[1] != ' ' {
				return nil, false
			}
			m := map[any]any{}
			items = append(items, m)
			stack = append(stack[:0], open{2, m})
			indent = 2
		default:
			for len(stack) > 0 && stack[len(stack)-1].indent > indent {
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 || stack[len(stack)-1].indent != indent {
				return nil, false
			}
		}
		m := stack[len(stack)-1].m
		key, rest, ok := simpleKey(line[indent:])
		if _, seen := m[key]; !ok || seen {
			return nil, false
		}
		if len(rest) == 0 {
			pending = map[any]any{}
			m[key] = pending
			continue
		}
		if rest[0] != ' ' {
			return nil, false
		}
		v, rest, ok := simpleValue(rest[1:], 0)
		if !ok || len(rest) > 0 {
			return nil, false
		}
		m[key] = v
	}
	return items, pending == nil && len(items) > 0
}

// simpleMaxKey bounds a key's length: yaml.v2 looks no further than 1024
// characters from a key's start for its ':', and refuses a longer key.
const simpleMaxKey = 1000

// simpleKey reads "key:" from s.
func simpleKey(s []byte) (key string, rest []byte, ok bool) {
	n := simpleWord(s, false)
	if n == 0 || n > simpleMaxKey || n >= len(s) || s[n] != ':' {
		return "", nil, false
	}
	key = string(s[:n])
	if simpleReserved(key) {
		return "", nil, false
	}
	return key, s[n+1:], true
}

// simpleWord returns the length of the plain string s starts with:
// letters, digits and '_', '-', and in values also '.', '/' and spaces
// between words, starting with a letter.
func simpleWord(s []byte, value bool) int {
	if len(s) == 0 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return 0
	}
	n := 0
	for n < len(s) {
		c := s[n]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case value && (c == '.' || c == '/'):
		case value && c == ' ' && n+1 < len(s) && s[n+1] != ' ' && simpleWord(s[n+1:n+2], true) > 0:
		default:
			return n
		}
		n++
	}
	return n
}

// simpleReserved reports whether YAML reads the plain word s as other
// than a string (yaml.v2's resolve table, for words starting with a
// letter).
func simpleReserved(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
		"true", "True", "TRUE", "false", "False", "FALSE",
		"on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL":
		return true
	}
	return false
}

// simpleMaxDepth bounds the nesting of flow collections simpleValue takes.
const simpleMaxDepth = 20

// simpleValue reads a value from s: a flow mapping or list, a
// double-quoted string or a plain string.
func simpleValue(s []byte, depth int) (v any, rest []byte, ok bool) {
	if len(s) == 0 || depth > simpleMaxDepth {
		return nil, nil, false
	}
	switch s[0] {
	case '{', '[':
		return simpleFlow(s, depth+1)
	case '"':
		end := 1
		for end < len(s) && s[end] != '"' {
			if s[end] == '\\' {
				return nil, nil, false
			}
			end++
		}
		if end == len(s) {
			return nil, nil, false
		}
		return string(s[1:end]), s[end+1:], true
	}
	n := simpleWord(s, true)
	if n == 0 || simpleReserved(string(s[:n])) {
		return nil, nil, false
	}
	return string(s[:n]), s[n:], true
}

// simpleFlow reads a one-line flow mapping or list from s.
func simpleFlow(s []byte, depth int) (v any, rest []byte, ok bool) {
	closing := byte(']')
	var list []any
	var m map[any]any
	if s[0] == '{' {
		closing, m = '}', map[any]any{}
	} else {
		list = []any{}
	}
	s = skipSpaces(s[1:])
	for first := true; ; first = false {
		if len(s) > 0 && s[0] == closing && first {
			break
		}
		var key string
		if m != nil {
			if key, s, ok = simpleKey(s); !ok || len(s) == 0 || s[0] != ' ' {
				return nil, nil, false
			}
			if _, seen := m[key]; seen {
				return nil, nil, false
			}
			s = skipSpaces(s)
		}
		var e any
		if e, s, ok = simpleValue(s, depth); !ok {
			return nil, nil, false
		}
		if m != nil {
			m[key] = e
		} else {
			list = append(list, e)
		}
		s = skipSpaces(s)
		if len(s) == 0 {
			return nil, nil, false
		}
		if s[0] == closing {
			break
		}
		if s[0] != ',' {
			return nil, nil, false
		}
		// "[a, ]" is a list of one in YAML; not taken here.
		if s = skipSpaces(s[1:]); len(s) == 0 || s[0] == closing {
			return nil, nil, false
		}
	}
	if m != nil {
		return m, s[1:], true
	}
	return list, s[1:], true
}

func skipSpaces(s []byte) []byte {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}
