package rulestore

import (
	"reflect"
	"testing"

	yaml2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// treeCases are YAML rule lists: ones specsFromTree must decode as
// decodeValid decodes their JSON form, and ones it must leave to that.
var treeCases = []struct {
	name, doc string
	fast      bool
}{
	{"block list", "- id: a\n  version: v0.40.6\n  description: d\n  priority: 3\n  mode: shadow\n  match: {url: \"https://api.test/<.*>\", methods: [GET, ~], headers: {X-A: b, X-N: ~}}\n  authenticators: [{handler: anonymous, fallthrough: true}]\n  authorizer: {handler: allow}\n  authorizers: []\n  mutators: [{handler: noop, config: {}}, ~]\n  errors: ~\n  upstream: {url: http://u, preserve_host: true, strip_path: /x}\n", true},
	{"YAML 1.1 words, octal, numbers", "- id: a\n  authenticators: [{handler: x, config: {w: [yes, no, on, off, y, n], o: 0777, h: 0x1f, b: 12345678901234567890, f: 1.5, e: 1e3, m: -0.0, z: -0, s: '1', t: 2001-12-14, nl: null}}]\n", true},
	{"anchors and merge keys", "- id: a\n  authenticators: [&h {handler: x, config: &c {a: 1, b: [1, 2]}}]\n  mutators: [*h, {<<: *h, config: {<<: *c, a: 2}}]\n", true},
	{"multi-line strings", "- id: a\n  description: |\n    one\n    two\n  match:\n    url: >-\n      https://api.test/\n      x\n", true},
	{"non-string key in a config", "- id: a\n  authenticators: [{handler: x, config: {1: a}}]\n", false},
	{"boolean key in a config", "- id: a\n  authenticators: [{handler: x, config: {on: a}}]\n", false},
	{"key of different case", "- id: a\n  ID: b\n", false},
	{"key of different case alone", "- ID: a\n", false},
	{"float priority", "- id: a\n  priority: 1.0\n", false},
	{"number for a string", "- id: 1\n", false},
	{"boolean for a string", "- id: yes\n", false},
	{"string for a boolean", "- id: a\n  authenticators: [{handler: x, fallthrough: 'true'}]\n", false},
	{"NaN in a config", "- id: a\n  authenticators: [{handler: x, config: {n: .nan}}]\n", false},
	{"infinity in a config", "- id: a\n  authenticators: [{handler: x, config: {n: -.inf}}]\n", false},
	{"binary", "- id: a\n  description: !!binary /w==\n", false},
	{"unknown key", "- id: a\n  authorizers_typo: []\n", false},
	{"null item", "- id: a\n- ~\n", false},
	{"rule without id", "- match: {url: https://api.test/}\n", false},
	{"bad version", "- id: a\n  version: one\n", false},
	{"not a list", "id: a\n", false},
	{"list for an object", "- id: a\n  match: [a]\n", false},
	{"timestamps", "- id: 2001-12-14\n  description: 2001-12-14 21:59:43.10 -5\n", true},
	{"YAML 1.1 integers", "- id: a\n  priority: 0x10\n  authenticators: [{handler: x, config: {s: 1:30, u: 1_000, p: +1, o: 0o17, b: 0b101}}]\n", true},
	{"an int64 priority", "- id: a\n  priority: 9223372036854775807\n", true},
	{"a priority past int64", "- id: a\n  priority: 9223372036854775808\n", false},
	{"a key with a folding letter", "- id: a\n  deſcription: x\n", false},
	{"binary as text", "- id: a\n  description: !!binary aGk=\n", true},
	{"a null key", "- id: a\n  authenticators: [{handler: x, config: {~: a}}]\n", false},
	{"a boolean key in headers", "- id: a\n  match: {url: x, headers: {true: x}}\n", false},
	{"a merge key after a key", "- id: a\n  <<: {id: b, description: d}\n", true},
	{"a rule that is an empty map", "- {}\n", false},
	{"a number in headers", "- id: a\n  match: {url: x, headers: {X-A: 1}}\n", false},
	{"null in headers and methods", "- id: a\n  match: {url: x, methods: [~], headers: {X-A: ~}}\n", true},
	{"a field json ignores", "- id: a\n  Index: 3\n", false},
}

// treeWay decodes data as decodeYAML does when specsFromTree takes it.
func treeWay(data []byte) ([]pipeline.RuleSpec, bool) {
	var tree any
	if err := yaml2.Unmarshal(data, &tree); err != nil {
		return nil, false
	}
	specs, ok := specsFromTree("rules.yaml", tree)
	if !ok {
		return nil, false
	}
	lines := ruleLines(data, len(specs))
	for i := range min(len(lines), len(specs)) {
		specs[i].Line = lines[i]
	}
	return specs, true
}

// specsFromTree gives what decodeValid gives for the JSON form, and
// leaves it every file where the two could differ.
func TestSpecsFromTree(t *testing.T) {
	for _, tt := range treeCases {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := treeWay([]byte(tt.doc))
			if ok != tt.fast {
				t.Fatalf("specsFromTree took the file: %v, want %v", ok, tt.fast)
			}
			if ok {
				sameAsJSONForm(t, []byte(tt.doc), got)
			}
		})
	}
}

// sameAsJSONForm fails t unless decodeValid of data's JSON form gives got.
func sameAsJSONForm(t *testing.T, data []byte, got []pipeline.RuleSpec) {
	t.Helper()
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("took a file whose JSON form fails: %v", err)
	}
	want, ok := decodeWhole("rules.yaml", data, js)
	if !ok {
		t.Fatal("took a file decodeValid refuses")
	}
	if !reflect.DeepEqual(got, want) || !sameFloatSigns(got, want) {
		t.Fatalf("from the YAML parse:\n%+v\nfrom its JSON form:\n%+v", got, want)
	}
}
