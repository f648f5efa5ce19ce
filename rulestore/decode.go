package rulestore

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	yaml2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// DecodeRules decodes a JSON or YAML array of rules. Unlike Oathkeeper,
// which ignores unknown keys inside a rule, an unknown key is an error
// naming the file, the line, the rule and the key, with a did-you-mean: a
// typo such as "authorizers" for "authorizer" must not silently change a
// rule's meaning. Every error of every rule is reported (errors.Join of
// *pipeline.FieldError). An empty file is an error; "[]" is an empty rule
// list.
//
// The rules returned must not be modified: the next decode of a file of
// the same name reuses those of its parts that did not change, and rules
// with equal handler lists share one (pipeline.ShareHandlers).
func DecodeRules(name string, data []byte) ([]pipeline.RuleSpec, error) {
	specs, err := decodeRules(name, data)
	if err != nil {
		return nil, err
	}
	return specs, nil
}

// DecodeRulesAll is DecodeRules, but on error it also returns every rule
// that decoded into a RuleSpec (ignoring unknown keys), for a validator to
// check further. A loader must never serve them.
func DecodeRulesAll(name string, data []byte) ([]pipeline.RuleSpec, error) {
	return decodeRules(name, data)
}

func decodeRules(name string, data []byte) ([]pipeline.RuleSpec, error) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		if specs, ok := decodeJSON(name, data); ok {
			return specs, nil
		}
	}
	if specs, ok := decodeBlocks(name, data); ok {
		return specs, nil
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, YAMLError(name, "parse rules", err)
	}
	// An empty file is far more often a write caught halfway (or a broken
	// deploy) than a wish to drop every rule; "[]" says that explicitly.
	if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, fmt.Errorf("%s: file is empty (write [] for a file without rules)", name)
	}
	specs, ok := decodeWhole(name, data, js)
	if !ok {
		// Something is wrong: decode again, rule by rule, to report every
		// problem with its line, rule and key.
		specs, err = decodeEach(name, data, js)
	}
	if err == nil {
		err = mergedKeys(name, data, js)
	}
	// Owned here, so equal handler lists can become one.
	pipeline.ShareHandlers(specs)
	return specs, err
}

// mergedKeys refuses a file in which two keys of one mapping become one
// JSON key ({1: a, "1": b}, or floats equal at 32-bit precision): which
// value would win depends on map order, so the same file could mean
// different rules on each load. The quick decodes never take such files;
// this is the whole-file path's check, made only for a file that decoded,
// by counting the keys of the YAML tree and of its JSON form, which the
// conversion leaves the same but for such merges.
func mergedKeys(name string, data, js []byte) error {
	var y any
	if err := yaml2.Unmarshal(data, &y); err != nil {
		// Parsed once already: never expected, and never taken as "no
		// merged keys".
		return YAMLError(name, "parse rules", err)
	}
	if keysMerged(y, js) {
		return fmt.Errorf("%s: a mapping has two keys that mean the same key, such as 1 and \"1\": write each key once", name)
	}
	return nil
}

// keysMerged reports whether js, the JSON form of the YAML tree y, has
// fewer keys than y: two of a mapping became one. A js that does not
// decode counts as merged, so that no caller takes it.
func keysMerged(y any, js []byte) bool {
	var j any
	return json.Unmarshal(js, &j) != nil || countKeys(y) != countKeys(j)
}

// countKeys counts the keys of every mapping in v, a decoded YAML or JSON
// document.
func countKeys(v any) int {
	n := 0
	switch x := v.(type) {
	case map[any]any:
		n += len(x)
		for _, e := range x {
			n += countKeys(e)
		}
	case map[string]any:
		n += len(x)
		for _, e := range x {
			n += countKeys(e)
		}
	case []any:
		for _, e := range x {
			n += countKeys(e)
		}
	}
	return n
}

// decodeWhole is decodeValid for a whole file, which js is the JSON form
// of, with each rule's line.
func decodeWhole(name string, data, js []byte) ([]pipeline.RuleSpec, bool) {
	specs, ok := decodeValid(name, js)
	if !ok {
		return nil, false
	}
	lines := ruleLines(data, len(specs))
	for i := range min(len(lines), len(specs)) {
		specs[i].Line = lines[i]
	}
	return specs, true
}

// Blocks of rules for decodeBlocks: a block starts at a rule whose first
// line hashes to 0 modulo blockAverage, or after blockMax rules. The
// boundaries follow the text, not the count, so a rule added or removed
// moves no other block. Blocks are big enough that starting a parse costs
// nothing, and small beside the whole file, whose YAML tree is many times
// the size of the rules and would otherwise be alive at once.
const (
	blockAverage = 128
	blockMax     = 512
)

// ruleParts are where the rules of a file are: the i-th from offsets[i]
// to ends[i], on line lines[i].
type ruleParts struct {
	offsets, ends, lines []int
	// firstLines: blockStarts hashes a rule's first line, not all of it,
	// so that a change in a rule moves no boundary. For JSON, where every
	// rule's first line may be "{", it hashes the whole rule.
	firstLines bool
}

// blockStarts returns the index of each block's first rule, and n.
func blockStarts(data []byte, p ruleParts) []int {
	starts := []int{0}
	for i := 1; i < len(p.offsets); i++ {
		key := data[p.offsets[i]:p.ends[i]]
		if j := bytes.IndexByte(key, '\n'); j >= 0 && p.firstLines {
			key = key[:j]
		}
		h := fnv.New32a()
		h.Write(key)
		if h.Sum32()%blockAverage == 0 || i-starts[len(starts)-1] >= blockMax {
			starts = append(starts, i)
		}
	}
	return append(starts, len(p.offsets))
}

// lastDecoded holds, by file name, the blocks of the file last decoded by
// blocks, under the SHA-256 of their text: a reload reparses only the
// blocks that changed. A block's rules depend on nothing but its text
// (decodeBlocks and decodeJSON refuse files where they would), and rules
// are never modified once decoded, so they are reused as they are, with
// their index and line set anew. Each entry holds no more than the rules
// the store holds anyway, but a file that is gone keeps its entry until
// maxDecodedFiles names have been seen, when the cache starts afresh.
var lastDecoded = struct {
	sync.Mutex
	files map[string]map[[sha256.Size]byte][]pipeline.RuleSpec
}{files: map[string]map[[sha256.Size]byte][]pipeline.RuleSpec{}}

// maxDecodedFiles bounds lastDecoded: a rule directory whose files come
// and go under new names (generated, timestamped) must not keep the rules
// of every file it ever held. Starting afresh costs one full parse.
const maxDecodedFiles = 256

// decodeBlocks decodes a valid rule file written as a block list
// (blockItems) a block of rules at a time (decodeParts). Each block must
// parse, on its own, into a list of exactly the rules found in it, which
// it cannot if a multi-line string or an anchor spans blocks; ok is false
// then, and for anything decodeValid refuses, and the caller decodes the
// whole file instead.
func decodeBlocks(name string, data []byte) ([]pipeline.RuleSpec, bool) {
	offsets, lines, ok := blockItems(data)
	if !ok {
		return nil, false
	}
	// The blocks cover the file from its first rule on; what comes before
	// (comments, a document marker) must parse too, or a byte the YAML
	// parser refuses anywhere in the file (a control character, invalid
	// UTF-8) would be accepted there.
	if offsets[0] > 0 {
		if _, err := yaml.YAMLToJSON(data[:offsets[0]]); err != nil {
			return nil, false
		}
	}
	ends := append(offsets[1:len(offsets):len(offsets)], len(data))
	p := ruleParts{offsets, ends, lines, true}
	// The YAML parser bounds alias expansion by a share of the whole
	// document's nodes that shrinks as the document grows: blocks parsed
	// one by one may each pass where the whole file fails. A file in more
	// than one block that may hold an anchor is parsed whole.
	if mayHaveAnchor(data[offsets[0]:]) && len(blockStarts(data, p)) > 2 {
		return nil, false
	}
	return decodeParts(name, data, p, decodeYAML)
}

// mayHaveAnchor reports whether text may hold a YAML anchor ("&name"): an
// '&' after a letter, a digit or '=' (as in a URL's query) is inside a
// scalar or a tag, or a syntax error, never an anchor.
func mayHaveAnchor(text []byte) bool {
	for i, c := range text {
		if c != '&' {
			continue
		}
		if i == 0 {
			return true
		}
		switch p := text[i-1]; {
		case p >= 'a' && p <= 'z', p >= 'A' && p <= 'Z', p >= '0' && p <= '9', p == '=':
		default:
			return true
		}
	}
	return false
}

// decodeParts decodes the rules of data, at p, in blocks (blockStarts) on
// every CPU, reusing the unchanged blocks of the previous decode of a
// file of that name. decode decodes a block's text, from its first rule's
// start to its last one's end, into exactly the block's rules; ok is false
// where it does not.
func decodeParts(name string, data []byte, p ruleParts,
	decode func(name string, text []byte) ([]pipeline.RuleSpec, bool)) ([]pipeline.RuleSpec, bool) {
	lastDecoded.Lock()
	prev := lastDecoded.files[name]
	lastDecoded.Unlock()
	specs := make([]pipeline.RuleSpec, len(p.offsets))
	starts := blockStarts(data, p)
	blocks := len(starts) - 1
	sums := make([][sha256.Size]byte, blocks)
	var failed atomic.Bool // a block did not decode on its own
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), blocks) {
		wg.Go(func() {
			for b := int(next.Add(1) - 1); b < blocks && !failed.Load(); b = int(next.Add(1) - 1) {
				first, last := starts[b], starts[b+1]
				text := data[p.offsets[first]:p.ends[last-1]]
				sums[b] = sha256.Sum256(text)
				got := prev[sums[b]]
				if got == nil {
					var ok bool
					if got, ok = decode(name, text); !ok || len(got) != last-first {
						failed.Store(true)
						return
					}
				}
				copy(specs[first:last], got)
				for i := first; i < last; i++ {
					specs[i].Index, specs[i].Line = i, p.lines[i]
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		return nil, false
	}
	// Before the rules are kept: nothing writes to them afterwards.
	pipeline.ShareHandlers(specs)
	done := make(map[[sha256.Size]byte][]pipeline.RuleSpec, blocks)
	for b, sum := range sums {
		done[sum] = specs[starts[b]:starts[b+1]:starts[b+1]]
	}
	lastDecoded.Lock()
	if _, ok := lastDecoded.files[name]; !ok && len(lastDecoded.files) >= maxDecodedFiles {
		clear(lastDecoded.files)
	}
	lastDecoded.files[name] = done
	lastDecoded.Unlock()
	return specs, true
}

// decodeYAML is decodeValid of the JSON form of text, a YAML rule list:
// parsed by simpleYAML where it can, and decoded from the parse directly
// where specsFromTree can, through the JSON form where it cannot.
func decodeYAML(name string, text []byte) ([]pipeline.RuleSpec, bool) {
	var tree any
	if items, ok := simpleYAML(text); ok {
		tree = items
	} else if err := yaml2.Unmarshal(text, &tree); err != nil {
		return nil, false
	}
	if specs, ok := specsFromTree(name, tree); ok {
		return specs, true
	}
	js, err := yaml.YAMLToJSON(text)
	if err != nil || keysMerged(tree, js) {
		return nil, false // merged keys: the whole-file decode refuses them
	}
	return decodeValid(name, js)
}

// decodeValid decodes a rule list in one strict pass, as valid files are:
// ok is false at the first thing decodeEach would report (an unknown key,
// a value of the wrong kind, a bad version) and for a rule without an id
// (which may be a null item), and decodeEach then decodes the file again.
// The rules are numbered from 0, without lines.
func decodeValid(name string, js []byte) ([]pipeline.RuleSpec, bool) {
	if t := bytes.TrimSpace(js); len(t) == 0 || t[0] != '[' {
		return nil, false // null decodes into a list without error
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	var specs []pipeline.RuleSpec
	if err := dec.Decode(&specs); err != nil {
		return nil, false
	}
	for i := range specs {
		s := &specs[i]
		if s.ID == "" || checkVersion(s.Version) != nil {
			return nil, false
		}
		s.Source, s.Index = name, i
	}
	return specs, true
}

// decodeEach decodes the rules one by one, reporting every problem of
// every rule (errors.Join of *pipeline.FieldError) and returning the
// rules that decoded.
func decodeEach(name string, data, js []byte) ([]pipeline.RuleSpec, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // re-encoded below: keep big integers exact
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: parse rules: %w", name, pipeline.JSONDecodeError(err))
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: rules must be a JSON or YAML list of rules, not %s", name, kindOf(doc))
	}
	lines := LineIndex(data)
	specs := make([]pipeline.RuleSpec, 0, len(list))
	var errs []error
	for i, item := range list {
		prefix := "[" + strconv.Itoa(i) + "]"
		spec := pipeline.RuleSpec{Source: name, Index: i, Line: lines[prefix]}
		fail := func(path string, err error) {
			at := spec
			if l := lines[prefix+"."+path]; path != "" && l > 0 {
				at.Line = l
			}
			errs = append(errs, &pipeline.FieldError{Path: at.Where(), Err: err})
		}
		m, ok := item.(map[string]any)
		if !ok {
			fail("", fmt.Errorf("a rule must be an object, not %s", kindOf(item)))
			continue
		}
		// Name the rule in every message, even if the rest does not decode.
		spec.ID, _ = m["id"].(string)
		for _, u := range pipeline.UnknownFields(m, reflect.TypeOf(spec)) {
			fail(u.Path(), u)
		}
		if v, ok := m["version"].(string); ok {
			if err := checkVersion(v); err != nil {
				fail("version", fmt.Errorf("version: %w", err))
			}
		}
		raw, _ := json.Marshal(m)
		var got pipeline.RuleSpec
		if err := json.Unmarshal(raw, &got); err != nil {
			var te *json.UnmarshalTypeError
			field := ""
			if errors.As(err, &te) {
				field = te.Field
			}
			fail(field, pipeline.JSONDecodeError(err))
			continue
		}
		// A rule with unknown keys or a bad version still decoded: a
		// validator compiles it too, to report its other problems.
		got.Source, got.Index, got.Line = name, i, spec.Line
		specs = append(specs, got)
	}
	return specs, errors.Join(errs...)
}

// semverPattern is the regular expression the Semantic Versioning 2.0.0
// specification gives for a version.
var semverPattern = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// checkVersion validates a rule's version as Oathkeeper's rule migrator
// does: empty (the running version) or "master" pass; otherwise, after one
// leading "v", it must be a semantic version ("v0.40.6", "0.38.0-beta.2").
// Oathkeeper fails the rule's decode otherwise.
func checkVersion(v string) error {
	rv := strings.TrimPrefix(v, "v")
	if v == "" || rv == "master" || semverPattern.MatchString(rv) {
		return nil
	}
	return fmt.Errorf("%q is not a semantic version such as v0.40.6", v)
}

// yamlLine finds the "line N" of a YAML parser message.
var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: (?:unmarshal errors:\n\s*)?line (\d+): `)

// YAMLError puts the line of a YAML syntax error where editors look for
// it: `rules.yaml:3: parse rules: did not find expected key`.
func YAMLError(name, what string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s: %s", name, m[1], what, msg[len(m[0]):])
	}
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, "error converting YAML to JSON: "), "yaml: ")
	return fmt.Errorf("%s: %s: %s", name, what, msg)
}

// kindOf names the JSON kind of a decoded value, for messages.
func kindOf(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "true or false"
	}
	return "null"
}
