package rulestore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	yaml2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// fastPathCases are rule files for the one-pass decode: valid ones it
// must decode exactly as the rule-by-rule decode does (lines included),
// and ones it must hand over to it.
var fastPathCases = []struct {
	name, doc string
	fast      bool
}{
	{"block list", "- id: a\n  match: {url: \"https://api.test/<.*>\", methods: [GET]}\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n- id: b\n  version: v0.40.6\n  match: {url: \"https://api.test/b\", methods: [GET]}\n  authenticators: [{handler: anonymous, config: {subject: x, n: 12345678901234567890}}]\n  authorizer: {handler: allow}\n  mutators: [{handler: header, config: {headers: {X-User: \"{{ print .Subject }}\"}}}]\n", true},
	{"comments and a document marker first", "# rules\n\n---\n- id: a\n  authenticators: []\n-   id: b\n", true},
	{"a multi-line string with list-like lines", "- id: a\n  description: |\n    - not a rule\n- id: b\n  description: \"one\n\n- two\"\n", true},
	{"JSON", `[{"id":"a","match":{"url":"https://api.test/a","methods":["GET"]}},` + "\n" + `{"id":"b"}]`, true},
	{"indented list", "  - id: a\n  - id: b\n", true},
	{"flow list over lines", "[ {id: a},\n  {id: b} ]\n", true},
	{"empty list", "[]", true},
	{"unknown key", "- id: a\n  authorizers_typo: []\n", false},
	{"value of the wrong kind", "- id: a\n  match: {methods: GET}\n", false},
	{"bad version", "- id: a\n  version: one\n", false},
	{"null item", "- id: a\n-\n", false},
	{"rule without id", "- match: {url: https://api.test/}\n", false},
	{"not a list", "id: a\n", false},
	{"a control character in a leading comment", "# \x01\n- id: a\n", false},
	{"invalid UTF-8 in a leading comment", "# \xff\n- id: a\n", false},
	{"a control character in a rule", "- id: a\n  description: \"\x01\"\n", false},
}

// fastDecoders are decodeRules's ways to decode a valid file, each
// tried on its own.
var fastDecoders = map[string]func(data []byte) ([]pipeline.RuleSpec, bool){
	"by blocks":           func(data []byte) ([]pipeline.RuleSpec, bool) { return decodeBlocks("rules.yaml", data) },
	"JSON":                func(data []byte) ([]pipeline.RuleSpec, bool) { return decodeJSON("rules.yaml", data) },
	"from the YAML parse": treeWay,
	"whole": func(data []byte) ([]pipeline.RuleSpec, bool) {
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return nil, false
		}
		return decodeWhole("rules.yaml", data, js)
	},
}

// sameAsDecodeEach fails t unless the rule-by-rule decode of data gives
// no error and the rules got.
func sameAsDecodeEach(t *testing.T, how string, data []byte, got []pipeline.RuleSpec) {
	t.Helper()
	name := "rules.yaml"
	if len(got) > 0 {
		name = got[0].Source
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: took a file that does not parse: %v", how, err)
	}
	want, err := decodeEach(name, data, js)
	if err != nil {
		t.Fatalf("%s: took a file the rule-by-rule decode refuses: %v", how, err)
	}
	if len(got)+len(want) > 0 && !reflect.DeepEqual(got, want) && !caseVariantKeys(js) && !collidingKeys(data) {
		for i := range min(len(got), len(want)) {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("%s: rule %d:\n%+v\nrule by rule:\n%+v", how, i, got[i], want[i])
			}
		}
		t.Fatalf("%s: %d rules, rule by rule %d", how, len(got), len(want))
	}
}

// The quick decodes of valid files give what the rule-by-rule decode
// gives, rule lines included; every file with a problem goes to it.
func TestQuickDecodesAgreeWithDecodeEach(t *testing.T) {
	for _, tt := range fastPathCases {
		t.Run(tt.name, func(t *testing.T) {
			anyOK := false
			for how, decode := range fastDecoders {
				got, ok := decode([]byte(tt.doc))
				if ok {
					anyOK = true
					sameAsDecodeEach(t, how, []byte(tt.doc), got)
				}
			}
			if anyOK != tt.fast {
				t.Fatalf("a quick decode took the file: %v, want %v", anyOK, tt.fast)
			}
		})
	}
}

// scaleDoc is a block list of n rules, the i-th on line 2+7i.
func scaleDoc(n int) string {
	var b strings.Builder
	b.WriteString("# generated\n")
	for i := range n {
		fmt.Fprintf(&b, "- id: r%d\n  match:\n    url: \"https://api.test/%d/<.*>\"\n    methods: [GET]\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n", i, i)
	}
	return b.String()
}

// A large block list decodes by blocks (several), and gives what the
// rule-by-rule decode gives.
func TestDecodeBlocksManyRules(t *testing.T) {
	doc := scaleDoc(4*blockMax + 7)
	if starts := blockStarts([]byte(doc), mustItems(t, doc)); len(starts) < 5 {
		t.Fatalf("%d blocks", len(starts)-1)
	}
	got, ok := decodeBlocks("many.yaml", []byte(doc))
	if !ok {
		t.Fatal("a valid block list was not decoded by blocks")
	}
	sameAsDecodeEach(t, "by blocks", []byte(doc), got)
}

func mustItems(t *testing.T, doc string) ruleParts {
	t.Helper()
	offsets, lines, ok := blockItems([]byte(doc))
	if !ok {
		t.Fatal("not a block list")
	}
	return ruleParts{offsets, append(offsets[1:len(offsets):len(offsets)], len(doc)), lines, true}
}

// A second decode of a file under the same name reuses the rules of the
// blocks that did not change, with their index and line set for where
// they now are, and parses the others.
func TestDecodeBlocksReusesUnchangedBlocks(t *testing.T) {
	doc := scaleDoc(3 * blockMax)
	first, ok := decodeBlocks("reuse.yaml", []byte(doc))
	if !ok {
		t.Fatal("not decoded by blocks")
	}
	// A new first rule and a changed last one: every rule moves.
	changed := "- id: new\n  authenticators: [{handler: anonymous}]\n" + strings.Replace(doc, "https://api.test/1535/", "https://api.test/changed/", 1)
	second, ok := decodeBlocks("reuse.yaml", []byte(changed))
	if !ok {
		t.Fatal("not decoded by blocks")
	}
	sameAsDecodeEach(t, "second decode", []byte(changed), second)
	if second[1001].Match != first[1000].Match {
		t.Error("an unchanged block was parsed again")
	}
	if second[1].Match == first[0].Match {
		t.Error("the block the new rule joined was not parsed again")
	}
	if last := len(second) - 1; second[last].Match == first[last-1].Match {
		t.Error("the changed block was not parsed again")
	}
	other, ok := decodeBlocks("other.yaml", []byte(doc))
	if !ok || other[0].Match == first[0].Match || other[0].Source != "other.yaml" {
		t.Error("a file of another name reused the first file's rules")
	}
}

// A multi-line string or an anchor that spans two blocks makes the
// decode by blocks give up, never decode differently.
func TestDecodeBlocksRefusesWhatSpansBlocks(t *testing.T) {
	rules := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "- id: r%d\n", i)
		}
		return b.String()
	}
	for name, doc := range map[string]string{
		"quoted string":   rules(blockMax-1) + "- id: x\n  description: \"a\n- b\"\n" + rules(3),
		"anchor":          "- id: a\n  match: &m {url: https://api.test/, methods: [GET]}\n" + rules(blockMax) + "- id: z\n  match: *m\n",
		"second document": rules(3) + "---\n" + rules(2),
	} {
		if _, ok := decodeBlocks("rules.yaml", []byte(doc)); ok {
			t.Errorf("%s: decoded by blocks", name)
		}
	}
}

// ruleLines gives each rule's line as LineIndex does, by the quick scan or
// by the parse it falls back to.
func TestRuleLinesAgreeWithLineIndex(t *testing.T) {
	for _, tt := range fastPathCases {
		if !tt.fast {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			idx := LineIndex([]byte(tt.doc))
			n := 0
			for ; idx["["+strconv.Itoa(n)+"]"] > 0; n++ {
			}
			got := ruleLines([]byte(tt.doc), n)
			if len(got) != n {
				t.Fatalf("%d lines for %d rules: %v", len(got), n, got)
			}
			for i, l := range got {
				if want := idx["["+strconv.Itoa(i)+"]"]; l != want {
					t.Errorf("rule %d on line %d, LineIndex says %d", i, l, want)
				}
			}
		})
	}
}

// DecodeRules hands rules with equal handler lists one shared list.
func TestDecodeRulesSharesHandlerLists(t *testing.T) {
	doc := "- id: a\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: header, config: {headers: {X-User: u}}}]\n" +
		"- id: b\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: header, config: {headers: {X-User: u}}}]\n" +
		"- id: c\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: header, config: {headers: {X-User: v}}}]\n"
	specs, err := DecodeRules("rules.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := specs[0], specs[1], specs[2]
	if &a.Authenticators[0] != &c.Authenticators[0] || a.Authorizer != c.Authorizer || &a.Mutators[0] != &b.Mutators[0] {
		t.Error("equal handler lists were not shared")
	}
	if &a.Mutators[0] == &c.Mutators[0] {
		t.Error("different mutator configs were shared")
	}
}

// FuzzQuickDecodes checks each quick decode against the rule-by-rule one
// on arbitrary files: whenever it takes a file, both give the same rules.
func FuzzQuickDecodes(f *testing.F) {
	files, _ := filepath.Glob("testdata/oathkeeper/*/*rules*")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, tt := range fastPathCases {
		f.Add([]byte(tt.doc))
	}
	for _, tt := range jsonCases {
		f.Add([]byte(tt.doc))
	}
	for _, tt := range treeCases {
		f.Add([]byte(tt.doc))
	}
	for _, tt := range simpleCases {
		f.Add([]byte(tt.doc))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for how, decode := range fastDecoders {
			if got, ok := decode(data); ok {
				sameAsDecodeEach(t, how, data, got)
			}
		}
		// What a JSON file decodes to today is the YAML way's, even
		// where that differs from the rule-by-rule decode's.
		if got, ok := decodeJSON("rules.json", data); ok {
			sameAsYAMLWay(t, data, got)
		}
		if got, ok := treeWay(data); ok {
			sameAsJSONForm(t, data, got)
		}
		if items, ok := simpleYAML(data); ok {
			sameAsYAMLv2(t, data, items)
		}
	})
}

// caseVariantKeys reports whether an object of the JSON document has two
// keys equal but for case ("id" and "ID"): encoding/json then keeps the
// last in the document, and the rule-by-rule decode the last in sorted
// order.
func caseVariantKeys(js []byte) bool {
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			seen := map[string]bool{}
			for k, e := range x {
				if seen[strings.ToLower(k)] || walk(e) {
					return true
				}
				seen[strings.ToLower(k)] = true
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	var doc any
	d := json.NewDecoder(bytes.NewReader(js))
	return d.Decode(&doc) == nil && walk(doc)
}

// collidingKeys reports whether a mapping of the YAML document has two
// keys that sigs.k8s.io/yaml turns into one JSON key ("0" and 0): which
// value it keeps depends on map order, so two decodes may differ.
func collidingKeys(data []byte) bool {
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[any]any:
			seen := map[string]bool{}
			for k, e := range x {
				s := fmt.Sprint(k)
				if f, ok := k.(float64); ok {
					s = strconv.FormatFloat(f, 'g', -1, 32)
				}
				if seen[s] || walk(e) {
					return true
				}
				seen[s] = true
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	var doc any
	return yaml2.Unmarshal(data, &doc) == nil && walk(doc)
}
