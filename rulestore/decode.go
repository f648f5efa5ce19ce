package rulestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// DecodeRules decodes a JSON or YAML array of rules. Unlike Oathkeeper,
// which ignores unknown keys inside a rule, an unknown key is an error
// naming the file, the rule and the key: a typo such as "authorizers" for
// "authorizer" must not silently change a rule's meaning. An empty file is
// an error; "[]" is an empty rule list.
func DecodeRules(name string, data []byte) ([]pipeline.RuleSpec, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: parse rules: %w", name, err)
	}
	// An empty file is far more often a write caught halfway (or a broken
	// deploy) than a wish to drop every rule; "[]" says that explicitly.
	if t := bytes.TrimSpace(js); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil, fmt.Errorf("%s: file is empty (write [] for a file without rules)", name)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("%s: rules must be a JSON or YAML array of rules: %w", name, err)
	}
	specs := make([]pipeline.RuleSpec, 0, len(raw))
	var errs []error
	for i, r := range raw {
		spec := pipeline.RuleSpec{Source: name, Index: i}
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			// Name the rule even though it did not decode.
			var peek struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(r, &peek)
			spec = pipeline.RuleSpec{Source: name, Index: i, ID: peek.ID}
			errs = append(errs, &pipeline.FieldError{Path: spec.Where(), Err: cleanJSONError(err)})
			continue
		}
		spec.Source, spec.Index = name, i
		specs = append(specs, spec)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return specs, nil
}

func cleanJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("%s: cannot use %s as %s", te.Field, te.Value, te.Type)
	}
	msg := err.Error()
	if len(msg) > 6 && msg[:6] == "json: " {
		msg = msg[6:]
	}
	return fmt.Errorf("%s", msg)
}
