package rulestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

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
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, YAMLError(name, "parse rules", err)
	}
	// An empty file is far more often a write caught halfway (or a broken
	// deploy) than a wish to drop every rule; "[]" says that explicitly.
	if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, fmt.Errorf("%s: file is empty (write [] for a file without rules)", name)
	}
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
