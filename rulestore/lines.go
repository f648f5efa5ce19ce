package rulestore

import (
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
