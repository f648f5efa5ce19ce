package rulestore

import (
	"reflect"
	"strings"
	"testing"

	yaml2 "go.yaml.in/yaml/v2"
)

// simpleCases are blocks of rule files: ones simpleYAML must parse into
// yaml.v2's tree, and ones it must leave to yaml.v2.
var simpleCases = []struct {
	name, doc string
	simple    bool
}{
	{"flow values", "- id: r00000\n  match: {url: \"<http|https>://demo/svc-00000/<.*>\", methods: [GET]}\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: header, config: {headers: {X-User: \"{{ print .Subject }}\"}}}]\n- id: r00001\n", true},
	{"nested mappings", "- id: a\n  match:\n    url: \"https://api.test/a\"\n    methods: [GET, POST]\n  authenticators: [ { handler: anonymous } , {handler: noop}]\n\n- id: b\n  upstream:\n    url: x.y/z\n    more:\n      deep: a b c\n  mode: shadow\n", true},
	{"empty collections", "- id: a\n  authenticators: []\n  match: {}\n", true},
	{"quoted words", "- id: \"yes\"\n  description: \"# not a comment, 'x' & *y\"\n", true},
	{"flow list without spaces", "- id: a\n  methods: [GET,POST]\n  match: {url: x,methods: []}\n", true},
	{"a nested mapping deeper", "- match:\n     url: a b\n  id: a\n", true},
	{"plain word yes", "- id: a\n  description: yes\n", false},
	{"plain word null", "- id: a\n  match: {url: Null}\n", false},
	{"reserved key", "- id: a\n  on: a\n", false},
	{"number", "- id: a\n  priority: 1\n", false},
	{"comment", "- id: a # x\n", false},
	{"tab", "- id:\ta\n", false},
	{"trailing space", "- id: a \n", false},
	{"CRLF", "- id: a\r\n", false},
	{"non-ASCII", "- id: é\n", false},
	{"escape", "- id: \"a\\tb\"\n", false},
	{"single quotes", "- id: 'a'\n", false},
	{"anchor", "- id: &a a\n", false},
	{"tag", "- id: !!str a\n", false},
	{"block scalar", "- id: a\n  description: |\n    x\n", false},
	{"multi-line plain", "- id: a\n  description: x\n    y\n", false},
	{"multi-line flow", "- id: a\n  match: {url: x,\n    methods: [GET]}\n", false},
	{"key alone", "- id: a\n  match:\n  mode: shadow\n", false},
	{"key alone last", "- id: a\n  match:\n", false},
	{"duplicate key", "- id: a\n  id: b\n", false},
	{"duplicate flow key", "- id: a\n  match: {url: a, url: b}\n", false},
	{"trailing comma", "- id: a\n  methods: [GET, ]\n", false},
	{"colon in plain", "- id: a\n  url: https://x\n", false},
	{"pair in a flow list", "- id: a\n  methods: [a: b]\n", false},
	{"list item alone", "- a\n", false},
	{"bad indent", "- id: a\n   mode: x\n", false},
	{"block list in a mapping", "- id: a\n  methods:\n    - GET\n", false},
	{"nested mapping not indented", "- match:\n  url: x\n", false},
	{"back to no mapping's indent", "- id: a\n  match:\n     url: a\n    methods: []\n", false},
	{"two spaces in a plain string", "- id: a  b\n", false},
	{"a key without a space", "- id:a\n", false},
	{"a flow key without a space", "- id: a\n  match: {url:x}\n", false},
	{"quoted flow key", "- id: a\n  match: {\"url\": x}\n", false},
	{"a value without a key", "- id: a\n  match: {url: }\n", false},
	{"nested too deep", "- id: " + strings.Repeat("[", simpleMaxDepth+2) + strings.Repeat("]", simpleMaxDepth+2) + "\n", false},
	{"wider item", "-   id: a\n", false},
	{"a long key", "- id: a\n  match:\n    headers:\n      " + strings.Repeat("k", 1100) + ": v\n", false},
	{"a long flow key", "- id: a\n  match: {headers: {" + strings.Repeat("k", 1100) + ": v}}\n", false},
	{"a key of simpleMaxKey bytes", "- id: a\n  match:\n    headers:\n      " + strings.Repeat("k", simpleMaxKey) + ": v\n", true},
	{"a flow key of simpleMaxKey bytes", "- id: a\n  match: {headers: {" + strings.Repeat("k", simpleMaxKey) + ": v}}\n", true},
	{"a key one longer", "- id: a\n  " + strings.Repeat("k", simpleMaxKey+1) + ": v\n", false},
	{"a CR alone", "- id: a\r  mode: x\n", false},
	{"a dash alone", "-\n  id: a\n", false},
	{"a document marker", "---\n- id: a\n", false},
	{"a merge key", "- id: a\n  <<: {id: b}\n", false},
	{"a value starting with a digit", "- id: 2001-12-14\n", false},
	{"a value of YAML words with spaces", "- id: yes no\n  mode: on off\n", true},
	{"a value with a dot word", "- id: a\n  url: api.test/x\n", true},
}

// simpleYAML gives yaml.v2's tree for what it takes.
func TestSimpleYAML(t *testing.T) {
	for _, tt := range simpleCases {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := simpleYAML([]byte(tt.doc))
			if ok != tt.simple {
				t.Fatalf("simpleYAML took the text: %v, want %v", ok, tt.simple)
			}
			if ok {
				sameAsYAMLv2(t, []byte(tt.doc), got)
			}
		})
	}
}

// sameAsYAMLv2 fails t unless yaml.v2 parses data into items.
func sameAsYAMLv2(t *testing.T, data []byte, items []any) {
	t.Helper()
	var want any
	if err := yaml2.Unmarshal(data, &want); err != nil {
		t.Fatalf("simpleYAML took a text yaml.v2 refuses: %v", err)
	}
	if !reflect.DeepEqual(any(items), want) {
		t.Fatalf("simpleYAML:\n%#v\nyaml.v2:\n%#v", items, want)
	}
}
