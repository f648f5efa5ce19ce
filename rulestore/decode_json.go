package rulestore

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// decodeJSON decodes a valid rule file written as JSON straight with
// encoding/json, a block of rules at a time (decodeParts), without the
// YAML parse that the other decodes go through (which, for a JSON file,
// builds a tree many times the size of the rules). It gives exactly what
// that parse and decodeValid give: ok is false for any file where they
// could differ (jsonScan lists the cases), and for anything decodeValid
// refuses, and the caller decodes the file the YAML way.
func decodeJSON(name string, data []byte) ([]pipeline.RuleSpec, bool) {
	if !utf8.Valid(data) || !json.Valid(data) {
		return nil, false
	}
	p, ok := jsonScan(data)
	if !ok {
		return nil, false
	}
	if len(p.offsets) == 0 {
		return []pipeline.RuleSpec{}, true
	}
	return decodeParts(name, data, p, decodeJSONBlock)
}

// decodeJSONBlock decodes text, JSON rules with the commas between them,
// as a list of its own.
func decodeJSONBlock(name string, text []byte) ([]pipeline.RuleSpec, bool) {
	list := make([]byte, 0, len(text)+2)
	return decodeValid(name, append(append(append(list, '['), text...), ']'))
}

// jsonMaxKeys and jsonMaxKey bound what jsonScan checks: an object with
// more keys, or a key whose ':' is further than that from its start (the
// YAML parser looks no further than 1024 characters for a key's ':'),
// goes the YAML way, as does deeper nesting.
const (
	jsonMaxKeys = 64
	jsonMaxKey  = 1000
	// jsonMaxDepth keeps clear of the parsers' nesting limits.
	jsonMaxDepth = 100
)

// jsonScan finds where the rules of data are (firstLines false), data
// being valid JSON in valid UTF-8 whose first
// byte other than a space or line break is '['. ok is false for anything
// where the YAML parser (yaml.v2, through sigs.k8s.io/yaml) and
// encoding/json could disagree, or where a rule's line could differ from
// the YAML parser's (yaml.v3, LineIndex):
//   - a tab or anything else but spaces and line breaks around the list
//     (YAML refuses tabs there);
//   - the escape \/ (not a YAML escape), and \u escapes of surrogates
//     (YAML refuses them; encoding/json pairs them);
//   - raw U+0085, U+2028 and U+2029 (line breaks to YAML, folded), and the
//     characters YAML refuses: DEL, C1 controls, U+FFFE and U+FFFF;
//   - an object key with an escape, or apart from its ':' by a line break
//     or by more than jsonMaxKey bytes (YAML then reads something else, or
//     nothing);
//   - two keys of one object equal but for case, or more than
//     jsonMaxKeys keys (encoding/json keeps the last key of the text,
//     decodeValid of the YAML parse the last in sorted order);
//   - the number -0 (an integer 0 to YAML, the float -0 to encoding/json);
//   - lists and objects nested deeper than jsonMaxDepth.
func jsonScan(data []byte) (p ruleParts, ok bool) {
	line := 1
	i := 0
	// space skips the spaces and line breaks around the list, stopping at
	// anything else; false at a tab (YAML refuses one there).
	space := func() bool {
		for ; i < len(data); i++ {
			switch data[i] {
			case ' ':
			case '\n':
				line++
			case '\r':
				if i+1 >= len(data) || data[i+1] != '\n' {
					line++
				}
			default:
				return data[i] != '\t'
			}
		}
		return true
	}
	if !space() || i >= len(data) || data[i] != '[' {
		return p, false
	}
	// keys holds the keys of the open objects, each object's from
	// keyStart[level] on.
	var keys [][]byte
	var keyStart []int
	var inObject []bool // per open container: an object, not a list
	expectKey := false
	for ; i < len(data); i++ {
		c := data[i]
		switch c {
		case ' ', '\t':
			continue
		case '\n':
			line++
			continue
		case '\r':
			if i+1 >= len(data) || data[i+1] != '\n' {
				line++
			}
			continue
		case ',':
			expectKey = inObject[len(inObject)-1]
			continue
		case ':':
			continue
		}
		if len(inObject) == 1 && c != ']' {
			p.offsets, p.ends, p.lines = append(p.offsets, i), append(p.ends, 0), append(p.lines, line)
		}
		switch c {
		case '[', '{':
			if len(inObject) > jsonMaxDepth {
				return p, false
			}
			inObject = append(inObject, c == '{')
			if c == '{' {
				keyStart = append(keyStart, len(keys))
				expectKey = true
			}
		case ']', '}':
			if c == '}' {
				keys = keys[:keyStart[len(keyStart)-1]]
				keyStart = keyStart[:len(keyStart)-1]
			}
			inObject = inObject[:len(inObject)-1]
			expectKey = false
			if len(inObject) == 1 {
				p.ends[len(p.ends)-1] = i + 1
			}
			if len(inObject) == 0 {
				i++
				if !space() || i != len(data) {
					return p, false
				}
				return p, true
			}
		case '"':
			end, escaped, ok := jsonString(data, i)
			if !ok {
				return p, false
			}
			if expectKey {
				key := data[i+1 : end-1]
				if escaped {
					return p, false
				}
				// The ':' must be on the key's line, and (with the key)
				// within the YAML parser's reach of a key's start.
				j := end
				for j < len(data) && (data[j] == ' ' || data[j] == '\t') {
					j++
				}
				if j >= len(data) || data[j] != ':' || j-i > jsonMaxKey {
					return p, false
				}
				from := keyStart[len(keyStart)-1]
				if len(keys)-from >= jsonMaxKeys {
					return p, false
				}
				for _, k := range keys[from:] {
					if bytes.EqualFold(k, key) {
						return p, false
					}
				}
				keys = append(keys, key)
				expectKey = false
			}
			i = end - 1
			if len(inObject) == 1 {
				p.ends[len(p.ends)-1] = end
			}
		default: // a number, true, false or null
			j := i
			for j < len(data) && strings.IndexByte("+-.0123456789Eabcdefilnrstu", data[j]) >= 0 {
				j++
			}
			if string(data[i:j]) == "-0" {
				return p, false
			}
			i = j - 1
			if len(inObject) == 1 {
				p.ends[len(p.ends)-1] = j
			}
		}
	}
	return p, false
}

// jsonString scans the string that starts at data[i] (a '"'), returning
// the index after its closing quote, whether it holds an escape, and
// false for what jsonScan refuses in strings.
func jsonString(data []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, escaped, true
		case c == '\\':
			escaped = true
			j++
			if j >= len(data) || data[j] == '/' {
				return 0, false, false
			}
			if data[j] == 'u' {
				if j+4 >= len(data) {
					return 0, false, false
				}
				// Surrogates are \uD800 to \uDFFF.
				if h := data[j+1] | 0x20; h == 'd' && strings.IndexByte("89abcdefABCDEF", data[j+2]) >= 0 {
					return 0, false, false
				}
				j += 4
			}
		case c == 0x7f:
			return 0, false, false
		case c == 0xc2 && j+1 < len(data) && data[j+1] < 0xa0: // U+0080 to U+009F
			return 0, false, false
		case c == 0xe2 && j+2 < len(data) && data[j+1] == 0x80 && (data[j+2] == 0xa8 || data[j+2] == 0xa9):
			return 0, false, false
		case c == 0xef && j+2 < len(data) && data[j+1] == 0xbf && data[j+2] >= 0xbe:
			return 0, false, false
		}
	}
	return 0, false, false
}
