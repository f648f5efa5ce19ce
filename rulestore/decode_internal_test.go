package rulestore

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

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
	// Edges of YAML, each decoded as the rule-by-rule decode does.
	{"an item whose dash is alone on its line", "-\n  id: a\n- id: b\n", true},
	{"an item whose dash line holds a comment", "- # first\n  id: a\n", true},
	{"an item whose dash line holds spaces", "-  \n  id: a\n", true},
	{"an item whose dash is alone, CRLF", "-\r\n  id: a\r\n", true},
	{"two document markers first", "---\n---\n- id: a\n", false},
	{"a document marker among comments", "# a\n---\n# b\n- id: a\n", true},
	{"an indented document marker", " ---\n#00\n- id: A", false},
	{"an indented comment", "  # a\n- id: a\n", true},
	{"a tab before a comment", "\t# b\n- id: a\n", false},
	{"a no-break space before a comment", "\u00a0# a\n- id: a\n", false},
	{"a no-break space line", "\u00a0\n- id: a\n", false},
	{"an ideographic space before a marker", "\u3000---\n- id: a\n", false},
	{"a document end marker first", "...\n- id: a\n", false},
	{"a document end marker after the list", "- id: a\n...\n", true},
	{"a second document after the list", "- id: a\n---\n- id: b\n", true},
	{"CRLF", "- id: a\r\n  description: b\r\n- id: b\r\n", true},
	{"a CR alone in a rule", "- id: a\n  description: x\r  mode: shadow\n- id: b\n", true},
	{"a CR alone in a comment", "- id: a\n# c\r# d\n- id: b\n", true},
	{"a CR alone between rules", "- id: a\r- id: b\n- id: c\n", true},
	{"trailing spaces", "- id: a   \n  description: b \n", true},
	{"a tab in a flow mapping", "- id: a\n  match: {url: x,\tmethods: [GET]}\n", true},
	{"a BOM before a block list", "\ufeff- id: a\n", true},
	{"a BOM before JSON", "\ufeff[{\"id\":\"a\"}]", true},
	{"a BOM between rules", "- id: a\n\ufeff- id: b\n", false},
	{"a line separator in a comment", "# c\u2028\n- id: a\n", true},
	{"a next line in a plain string", "- id: a\n  description: x\u0085y\n- id: b\n", false},
	{"a line separator in a quoted string", "- id: a\n  description: \"x\u2028y\"\n- id: b\n", true},
	{"YAML 1.1 words", "- id: a\n  authenticators: [{handler: x, fallthrough: on, config: {a: yes, b: n, c: ~, d: Null, e: Off, f: y}}]\n", true},
	{"YAML 1.1 numbers", "- id: a\n  priority: 0x10\n  authenticators: [{handler: x, config: {o: 0777, o2: 0o17, u: 1_000, e: 1e3, p: +1, s: 1:30, t: 2001-12-14, big: 12345678901234567890, huge: 123456789012345678901234567890, over: 1e400, mz: -0, mzf: -0.0, f: 1.0, i: 1}}]\n", true},
	{"a timestamp id", "- id: 2001-12-14\n- id: 2001-12-14t21:59:43.10-05:00\n", true},
	{"a float priority", "- id: a\n  priority: 1e2\n", true},
	{"an explicit float priority", "- id: a\n  priority: !!float 2\n", true},
	{"a quoted priority", "- id: a\n  priority: \"1\"\n", false},
	{"an explicit int tag on a string", "- id: !!int 1\n", false},
	{"explicit str and int tags", "- id: !!str 1\n  priority: !!int \"2\"\n", true},
	{"binary", "- id: a\n  description: !!binary aGk=\n  authenticators: [{handler: x, config: {b: !!binary aGk=}}]\n", true},
	{"a set", "- id: a\n  authenticators: [{handler: x, config: !!set {a, b}}]\n", true},
	{"NaN", "- id: a\n  authenticators: [{handler: x, config: {n: .nan}}]\n", false},
	{"a float id", "- id: 1.5\n", false},
	{"a key differing in case", "- id: a\n  Match: {url: x, methods: [GET]}\n", true},
	{"a field and its case variant", "- ID: b\n  id: a\n  Id: c\n", true},
	{"a key with a folding letter", "- id: a\n  deſcription: x\n  match: {url: x, methods: [GET], methodſ: [POST]}\n", true},
	{"a field json ignores", "- id: a\n  Source: x\n", false},
	{"a merge key", "- id: a\n  authenticators: [&h {handler: x}]\n  mutators: [{<<: *h, config: {a: 1}}]\n", true},
	{"a merge key after a key", "- id: a\n  <<: {id: b}\n- <<: [{id: c}, {id: d}]\n", true},
	{"a quoted merge key", "- id: a\n  authenticators: [{handler: x, config: {\"<<\": {a: 1}}}]\n", true},
	{"a duplicate key", "- id: a\n  id: b\n", true},
	{"a null key", "- id: a\n  authenticators: [{handler: x, config: {~: a}}]\n", false},
	{"a list as a key", "- id: a\n  authenticators: [{handler: x, config: {[a]: b}}]\n", false},
	{"a boolean key in headers", "- id: a\n  match: {url: x, headers: {true: x}}\n", true},
	{"a rule that is an empty map", "- id: a\n- {}\n", false},
	{"null values", "- id: a\n  match: ~\n  authenticators: ~\n  authorizer: null\n  mutators: [~]\n  errors: []\n  description: ~\n  upstream: {}\n", true},
	{"quoted keys", "- \"id\": a\n  'match': {\"url\": x}\n", true},
	{"keys with ':' and '#'", "- id: a\n  match: {url: x, headers: {\"a:b\": c, \"d#e\": f, g#h: i}}\n", true},
	{"items nested deeper", "- id: a\n  authenticators:\n  - handler: x\n    config:\n      l:\n      - a\n      - b: c\n", true},
	{"a flow collection over lines", "- id: a\n  match: {url: x,\n    methods: [GET,\n    POST]}\n", true},
	{"deep nesting", "- id: a\n  authenticators: [{handler: x, config: {a: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "}}]\n", true},
	{"a very long line", "- id: a\n  description: " + strings.Repeat("x", 100000) + "\n", true},
	{"a long header name", "- id: a\n  match:\n    url: x\n    headers:\n      " + strings.Repeat("k", 1100) + ": v\n", false},
	{"a long header name in a flow mapping", "- id: a\n  match: {url: x, headers: {" + strings.Repeat("k", 1100) + ": v}}\n", false},
	{"a header name of 1000 bytes", "- id: a\n  match:\n    url: x\n    headers:\n      " + strings.Repeat("k", 1000) + ": v\n", true},
	{"JSON: a key far from its colon", `[{"id"` + strings.Repeat(" ", 1100) + `:"a"}]`, false},
	{"JSON: a BOM inside a string", "[{\"id\":\"a\ufeffb\"}]", true},
	{"JSON: lines at the margin", "[\n{\"id\": \"a\"},\n{\"id\": \"b\"}\n]", true},
	{"JSON: a number out of range", `[{"id":"a","authenticators":[{"handler":"x","config":{"a":1e400}}]}]`, true},
	{"JSON: a lone surrogate escape", `[{"id":"\ud800"}]`, false},
	{"JSON: keys with a folding letter", `[{"id":"a","match":{"url":"x","methods":["GET"],"methodſ":["POST"]}}]`, true},
	{"JSON: an empty rule", `[{}]`, false},
	{"JSON: an empty key", `[{"id":"a","authenticators":[{"handler":"x","config":{"":1}}]}]`, true},
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
	if len(got)+len(want) > 0 && (!reflect.DeepEqual(got, want) || !sameFloatSigns(got, want)) && mergedKeys(name, data, js) == nil {
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

// aliasDoc is a block list of n rules, each expanding aliases of its own
// anchors to some thirty times its nodes: each block is under the YAML
// parser's bound on alias expansion, and a whole file of n = 160 rules,
// in two blocks, is over it.
func aliasDoc(n int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- id: r%d\n  authenticators: [{handler: x, config: {a: &a%d [%s1], b: &b%d [%s*a%d], c: *b%d, d: *b%d}}]\n",
			i, i, strings.Repeat("1,", 49), i, strings.Repeat("*a"+strconv.Itoa(i)+",", 19), i, i, i)
	}
	return []byte(b.String())
}

// The YAML parser bounds alias expansion over the whole document: a file
// whose blocks each pass and whose whole fails is not decoded by blocks,
// and fails to decode.
func TestDecodeBlocksRefusesExcessiveAliasing(t *testing.T) {
	doc := aliasDoc(160)
	if len(blockStarts(doc, mustItems(t, string(doc)))) < 3 {
		t.Fatal("one block: not a test of the bound")
	}
	if _, err := yaml.YAMLToJSON(doc); err == nil {
		t.Fatal("the whole file parsed: not a test of the bound")
	}
	if _, ok := decodeBlocks("aliases.yaml", doc); ok {
		t.Error("decoded by blocks")
	}
	if _, err := DecodeRules("aliases.yaml", doc); err == nil {
		t.Error("a file the YAML parser refuses was decoded")
	}
	// In one block, the file is decoded by blocks as the parse of the
	// whole file, bound included.
	small := aliasDoc(3)
	got, ok := decodeBlocks("aliases.yaml", small)
	if !ok {
		t.Fatal("a file of one block with anchors was not decoded by blocks")
	}
	sameAsDecodeEach(t, "by blocks", small, got)
}

// mayHaveAnchor finds every '&' that may start an anchor, and lets pass
// those that cannot.
func TestMayHaveAnchor(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"- id: a\n  match: &m {url: x}\n", true},
		{"- id: a\n  match: {url: x, methods: &m [GET]}\n", true},
		{"- &r\n  id: a\n", true},
		{"&a", true},
		{"- id: a\n  x: [1,&a 2]\n", true},
		{"- id: a\n  description: a & b\n", true},
		{"- id: a\n  match: {url: \"https://api.test/?a=1&b=2\"}\n", false},
		{"- id: a\n  description: R&D and x=&y\n", false},
		{"- id: a\n", false},
	} {
		if got := mayHaveAnchor([]byte(tt.text)); got != tt.want {
			t.Errorf("%q: %v, want %v", tt.text, got, tt.want)
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

// A file whose mapping has two keys that become one JSON key is refused
// with a line naming the problem, wherever the mapping is: which value
// won depended on map order, so one file could mean two rule sets.
func TestDecodeRulesRefusesMergedKeys(t *testing.T) {
	rule := "- id: a\n  match: {url: \"https://api.test/<.*>\", methods: [GET]}\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n"
	for _, tt := range []struct{ name, doc string }{
		{"an integer and a string", rule + "  mutators: [{handler: header, config: {headers: {1: a, \"1\": b}}}]\n"},
		{"a bool and a string", rule + "  mutators: [{handler: header, config: {headers: {true: a, \"true\": b}}}]\n"},
		{"floats equal at 32 bits", rule + "  mutators: [{handler: header, config: {headers: {0.1: a, 0.10000000001: b}}}]\n"},
		{"in a flow list over lines", "[ {id: a, authenticators: [{handler: anonymous, config: {1: x, \"1\": y}}]},\n  {id: b} ]\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 { // map order varies: every decode must refuse
				_, err := DecodeRules("rules.yaml", []byte(tt.doc))
				if err == nil || !strings.Contains(err.Error(), "rules.yaml: a mapping has two keys that mean the same key") {
					t.Fatalf("got %v, want the merged-keys error", err)
				}
			}
		})
	}
	// Distinct keys, and one key written once, still decode.
	if _, err := DecodeRules("rules.yaml", []byte(rule+"  mutators: [{handler: header, config: {headers: {1: a, \"2\": b}}}]\n")); err != nil {
		t.Fatal(err)
	}
}
