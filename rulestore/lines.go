package rulestore

import (
	"bytes"
	"strconv"

	yaml3 "go.yaml.in/yaml/v3"
)

// LineIndex maps the paths of a JSON or YAML document to the line each
// element starts on: "[3]" is the fourth rule of a rule file, "[3].match"
// its match key, "serve.grpc.port" a config key (the same path syntax as
// pipeline.UnknownField). It is best effort, for error messages: a
// document yaml.v3 cannot parse has no lines.
func LineIndex(data []byte) map[string]int {
	var root yaml3.Node
	if err := yaml3.Unmarshal(data, &root); err != nil {
		return nil
	}
	lines := map[string]int{}
	var walk func(n *yaml3.Node, path string)
	walk = func(n *yaml3.Node, path string) {
		switch n.Kind {
		case yaml3.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml3.SequenceNode:
			for i, c := range n.Content {
				p := path + "[" + strconv.Itoa(i) + "]"
				lines[p] = c.Line
				walk(c, p)
			}
		case yaml3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				lines[p] = n.Content[i].Line
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&root, "")
	return lines
}

// blockItems finds the items of a file written as a block list at the
// left margin: its first line that is not blank, a comment or "---"
// starts "- ", and every item starts on a line beginning "- " (or "-"
// alone). It returns each such line's byte offset and line number. Lines
// of that form inside a multi-line string are found too, so callers check
// the result against a real parse; ok is false for any other layout, and
// for a file with a second document or a directive after its first item,
// whose items a parse of the whole file would not all see (or a second
// "---" before it), and for an item whose line holds nothing after the
// dash but a comment, or a file with a line break other than LF and
// CRLF, whose lines would be wrong.
func blockItems(data []byte) (offsets, lines []int, ok bool) {
	// The YAML parser also breaks lines at a CR alone, U+0085, U+2028 and
	// U+2029, so its line numbers would not be the ones counted here.
	for _, br := range []string{"\u0085", "\u2028", "\u2029"} {
		if bytes.Contains(data, []byte(br)) {
			return nil, nil, false
		}
	}
	for rest := data; ; {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 {
			break
		}
		if i+1 == len(rest) || rest[i+1] != '\n' {
			return nil, nil, false
		}
		rest = rest[i+2:]
	}
	markers := 0 // "---" lines before the first item
	for i, off, rest := 1, 0, data; len(rest) > 0; i++ {
		line := rest
		if j := bytes.IndexByte(rest, '\n'); j >= 0 {
			line, rest = rest[:j], rest[j+1:]
		} else {
			rest = nil
		}
		start := off
		off += len(line) + 1
		item := len(line) > 0 && line[0] == '-' && (len(line) == 1 || line[1] == ' ' || line[1] == '\t' || line[1] == '\r')
		if len(lines) == 0 && !item {
			// Spaces here are YAML's, not Unicode's: " ---" and
			// "\u00a0#" are strings, not a marker and a comment.
			t := bytes.Trim(line, " \t\r")
			if bytes.Equal(t, []byte("---")) && line[0] == '-' {
				// A second "---" starts a second document, and the
				// parse of the whole file sees only the first (null).
				if markers++; markers > 1 {
					return nil, nil, false
				}
				continue
			}
			if len(t) == 0 || t[0] == '#' {
				continue
			}
			return nil, nil, false
		}
		if item {
			// An item with nothing after its dash but a comment starts
			// on a later line, its line to the YAML parser.
			if t := bytes.TrimSpace(line[1:]); len(t) == 0 || t[0] == '#' {
				return nil, nil, false
			}
		}
		if bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")) || bytes.HasPrefix(line, []byte("%")) {
			return nil, nil, false
		}
		if item {
			offsets, lines = append(offsets, start), append(lines, i)
		}
	}
	return offsets, lines, len(lines) > 0
}

// ruleLines returns the line each of the n rules of a rule file starts
// on, without the cost of LineIndex's paths (a second YAML parse costs as
// much as the decode). For a block list (blockItems), each rule starts on
// one of the lines found, and any other line found (in a multi-line
// string) makes more than n: the count proves the lines. Any other file is
// parsed with yaml.v3 as LineIndex does. Nil when neither works.
func ruleLines(data []byte, n int) []int {
	if _, lines, ok := blockItems(data); ok && len(lines) == n {
		return lines
	}
	var root yaml3.Node
	if err := yaml3.Unmarshal(data, &root); err != nil || len(root.Content) == 0 || root.Content[0].Kind != yaml3.SequenceNode {
		return nil
	}
	lines := make([]int, 0, n)
	for _, c := range root.Content[0].Content {
		lines = append(lines, c.Line)
	}
	return lines
}
