package rulestore

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// jsonCases are JSON rule files: ones decodeJSON must decode as the YAML
// parse does, and ones where the two could differ, which it must leave
// to the YAML way.
var jsonCases = []struct {
	name, doc string
	fast      bool
}{
	{"one rule a line", `[{"id":"a","match":{"url":"https://api.test/<.*>","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]},` + "\n" + `{"id":"b","version":"v0.40.6"}]`, true},
	{"indented over lines", "\n\n[\n  {\n\t\"id\": \"a\",\n    \"match\": {\"url\": \"https://api.test/\", \"methods\": [\"GET\"]}\n  },\r\n  {\"id\": \"b\"}\r  ,{\"id\": \"c\"}\n]\n", true},
	{"empty list", " [ ] ", true},
	{"numbers in a config", `[{"id":"a","authenticators":[{"handler":"x","config":{"i":12345678901234567890,"big":123456789012345678901234567890,"f":1.5e3,"g":0.1,"n":-7,"z":0,"nz":-0.0,"e":1E-400,"l":[1,2.50]}}]}]`, true},
	{"priority", `[{"id":"a","priority":7}]`, true},
	{"escapes", `[{"id":"a\u003cb\u003e \"q\" \\ \b\f\n\r\t \u00e9 \u0000","description":"é 😀"}]`, true},
	{"a merge key spelled out", `[{"id":"a","authenticators":[{"handler":"x","config":{"<<":{"a":1},"b":true,"c":null}}]}]`, true},
	{"YAML 1.1 words as strings", `[{"id":"on","description":"yes","authenticators":[{"handler":"no","config":{"y":"off","o":"0777"}}]}]`, true},
	{"keys of different case in a config", `[{"id":"a","authenticators":[{"handler":"x","config":{"a":1,"A":2}}]}]`, false},
	{"keys of different case", `[{"id":"a","ID":"b"}]`, false},
	{"keys differing by a folding letter", `[{"id":"a","authenticators":[{"handler":"x","config":{"k":1,"K":2}}]}]`, false},
	{"duplicate key", `[{"id":"a","id":"b"}]`, false},
	{"escaped key", `[{"i\u0064":"a"}]`, false},
	{"slash escape", `[{"id":"a\/b"}]`, false},
	{"surrogate pair", `[{"id":"\ud83d\ude00"}]`, false},
	{"minus zero", `[{"id":"a","authenticators":[{"handler":"x","config":{"z":-0}}]}]`, false},
	{"float priority", `[{"id":"a","priority":1.0}]`, false},
	{"key apart from its colon", "[{\"id\"\n:\"a\"}]", false},
	{"long key", `[{"id":"a","authenticators":[{"handler":"x","config":{"` + strings.Repeat("k", 1100) + `":1}}]}]`, false},
	{"raw NEL", "[{\"id\":\"a\u0085b\"}]", false},
	{"raw line separator", "[{\"id\":\"a\u2028b\"}]", false},
	{"raw DEL", "[{\"id\":\"a\x7fb\"}]", false},
	{"raw U+FFFF", "[{\"id\":\"a\uffffb\"}]", false},
	{"invalid UTF-8", "[{\"id\":\"a\xffb\"}]", false},
	{"tab before the list", "\t[{\"id\":\"a\"}]", false},
	{"tab after the list", "[{\"id\":\"a\"}]\n\t", false},
	{"not JSON", "[{id: a}]", false},
	{"two values", `[{"id":"a"}] [{"id":"b"}]`, false},
	{"unknown key", `[{"id":"a","authorizers_typo":[]}]`, false},
	{"rule without id", `[{"match":{"url":"https://api.test/"}}]`, false},
	{"not an object", `[{"id":"a"},1]`, false},
	{"nested deep", `[{"id":"a","authenticators":[{"handler":"x","config":{"a":` + strings.Repeat("[", jsonMaxDepth) + strings.Repeat("]", jsonMaxDepth) + `}}]}]`, false},
	{"too many keys", `[{"id":"a","authenticators":[{"handler":"x","config":{` + manyKeys(jsonMaxKeys+1) + `}}]}]`, false},
	{"a key far from its colon", `[{"id"` + strings.Repeat(" ", 1100) + `:"a"}]`, false},
	// Its ':' is jsonMaxKey bytes from the key's opening quote, then one more.
	{"a key as far from its colon as taken", `[{"id"` + strings.Repeat(" ", jsonMaxKey-4) + `:"a"}]`, true},
	{"a key one byte further from its colon", `[{"id"` + strings.Repeat(" ", jsonMaxKey-3) + `:"a"}]`, false},
	{"a key of 998 bytes", `[{"id":"a","authenticators":[{"handler":"x","config":{"` + strings.Repeat("k", 998) + `":1}}]}]`, true},
	{"a BOM inside a string", "[{\"id\":\"a\ufeffb\"}]", true},
	{"a BOM before the list", "\ufeff[{\"id\":\"a\"}]", false},
	{"lines at the margin", "[\n{\"id\": \"a\"},\n{\"id\": \"b\"}\n]", true},
	{"a CR alone between rules", "[{\"id\":\"a\"},\r{\"id\":\"b\"}]", true},
	{"a number out of range", `[{"id":"a","authenticators":[{"handler":"x","config":{"a":1e400}}]}]`, false},
	{"number formats", `[{"id":"a","authenticators":[{"handler":"x","config":{"a":1.0,"b":1,"c":1e2,"d":-1.5E-3,"e":100000000000000000000000,"f":-12345678901234567890,"g":9007199254740993,"h":-0.0e5,"i":0e0}}]}]`, true},
	{"a priority in exponent form", `[{"id":"a","priority":1e2}]`, false},
	{"a lone surrogate escape", `[{"id":"\ud800"}]`, false},
	{"escapes of line breaks", `[{"id":"a\u2028\u2029\u0085b"}]`, true},
	{"keys with a folding letter", `[{"id":"a","match":{"url":"x","methods":["GET"],"methodſ":["POST"]}}]`, false},
	{"a Kelvin sign key", `[{"id":"a","authenticators":[{"handler":"x","config":{"k":1,"K":2}}]}]`, false},
	{"an empty rule", `[{}]`, false},
	{"an empty key", `[{"id":"a","authenticators":[{"handler":"x","config":{"":1}}]}]`, true},
	{"a null rule", `[{"id":"a"},null]`, false},
	{"null values", `[{"id":"a","match":null,"authenticators":null,"authorizer":null,"mutators":[null],"upstream":{},"description":null}]`, true},
	{"a key differing in case alone", `[{"ID":"a","Match":{"URL":"x"}}]`, true},
	{"a field json ignores", `[{"id":"a","Source":"x"}]`, false},
	{"a merge key and YAML words as keys", `[{"id":"a","authenticators":[{"handler":"x","config":{"<<":1,"y":2,"~":3,"null":4,"1":5}}]}]`, true},
	{"a comment after the list", `[{"id":"a"}] # c`, false},
	{"a YAML flow mapping", `[{"id": a}]`, false},
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = `"k` + strings.Repeat("x", i) + `":1`
	}
	return strings.Join(keys, ",")
}

// decodeJSON decodes what it takes as the YAML parse and decodeValid do,
// rule lines included, and leaves to them every file where they could
// differ.
func TestDecodeJSON(t *testing.T) {
	for _, tt := range jsonCases {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeJSON("rules.json", []byte(tt.doc))
			if ok != tt.fast {
				t.Fatalf("decodeJSON took the file: %v, want %v", ok, tt.fast)
			}
			if ok {
				sameAsYAMLWay(t, []byte(tt.doc), got)
			}
		})
	}
}

// sameAsYAMLWay fails t unless the file decodes the YAML way (the whole
// file through the YAML parse and decodeValid) into the rules got.
func sameAsYAMLWay(t *testing.T, data []byte, got []pipeline.RuleSpec) {
	t.Helper()
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("decodeJSON took a file the YAML parser refuses: %v", err)
	}
	name := "rules.json"
	if len(got) > 0 {
		name = got[0].Source
	}
	want, ok := decodeWhole(name, data, js)
	if !ok {
		t.Fatal("decodeJSON took a file the YAML way refuses")
	}
	if !reflect.DeepEqual(got, want) || !sameFloatSigns(got, want) {
		t.Fatalf("decodeJSON:\n%+v\nthe YAML way:\n%+v", got, want)
	}
}

// sameFloatSigns reports whether the numbers of the rules' configs have
// the same signs: reflect.DeepEqual takes -0 for 0.
func sameFloatSigns(a, b []pipeline.RuleSpec) bool {
	var signs func(v any, out []bool) []bool
	signs = func(v any, out []bool) []bool {
		switch x := v.(type) {
		case float64:
			out = append(out, math.Signbit(x))
		case map[string]any:
			for _, k := range sortedKeys(x) {
				out = signs(x[k], out)
			}
		case []any:
			for _, e := range x {
				out = signs(e, out)
			}
		}
		return out
	}
	all := func(specs []pipeline.RuleSpec) []bool {
		var out []bool
		for _, s := range specs {
			for _, hs := range [][]pipeline.HandlerSpec{s.Authenticators, s.Authorizers, s.Mutators, s.Errors} {
				for _, h := range hs {
					out = signs(h.Config, out)
				}
			}
			if s.Authorizer != nil {
				out = signs(s.Authorizer.Config, out)
			}
		}
		return out
	}
	return reflect.DeepEqual(all(a), all(b))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// scaleJSONDoc is a JSON list of n rules, each over several lines.
func scaleJSONDoc(n int) string {
	var b strings.Builder
	b.WriteString("[\n")
	for i := range n {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "  {\n    \"id\": \"r%d\",\n    \"match\": {\"url\": \"https://api.test/%d/<.*>\", \"methods\": [\"GET\"]},\n    \"authenticators\": [{\"handler\": \"anonymous\"}]\n  }", i, i)
	}
	b.WriteString("\n]\n")
	return b.String()
}

// A large JSON file decodes in several blocks, as the YAML way does, and
// a second decode under the same name reuses the rules of the blocks that
// did not change and parses the others.
func TestDecodeJSONReusesUnchangedBlocks(t *testing.T) {
	doc := scaleJSONDoc(3 * blockMax)
	first, ok := decodeJSON("reuse.json", []byte(doc))
	if !ok {
		t.Fatal("not decoded as JSON")
	}
	sameAsYAMLWay(t, []byte(doc), first)
	// A new first rule and a changed last one: every rule moves.
	changed := "[{\"id\": \"new\"},\n" + strings.Replace(doc[1:], "https://api.test/1535/", "https://api.test/changed/", 1)
	second, ok := decodeJSON("reuse.json", []byte(changed))
	if !ok {
		t.Fatal("not decoded as JSON")
	}
	sameAsYAMLWay(t, []byte(changed), second)
	if second[1001].Match != first[1000].Match {
		t.Error("an unchanged block was parsed again")
	}
	if second[1].Match == first[0].Match {
		t.Error("the block the new rule joined was not parsed again")
	}
	if last := len(second) - 1; second[last].Match == first[last-1].Match {
		t.Error("the changed block was not parsed again")
	}
}
