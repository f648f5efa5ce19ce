package rulestore

import (
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// specsFromTree decodes the rules of a YAML parse (yaml.v2's Unmarshal
// into an interface{}) as decodeValid decodes its JSON form
// (sigs.k8s.io/yaml's YAMLToJSON), without that JSON: writing it and
// reading it back cost more than the conversion. ok is false for anything
// decodeValid refuses, and for anything where the two could differ, which
// the caller then decodes through the JSON form:
//   - a key other than a string, and a struct key that matches a field only
//     but for case (encoding/json takes it, and of several the last in
//     sorted order);
//   - a number where a string is wanted, or a float where an integer is
//     (encoding/json takes 1.0), NaN and infinities (JSON has none);
//   - a string that is not valid UTF-8 (JSON writes U+FFFD for it);
//   - a value of a type the YAML parse does not give for plain YAML
//     (explicit tags), and a field type with a decode method of its own.
//
// The rules are numbered from 0, without lines.
func specsFromTree(name string, tree any) ([]pipeline.RuleSpec, bool) {
	list, ok := tree.([]any)
	if !ok {
		return nil, false
	}
	specs := make([]pipeline.RuleSpec, len(list))
	for i, item := range list {
		// A null item decodes into a rule without an id, refused below.
		if item == nil || !treeAssign(reflect.ValueOf(&specs[i]).Elem(), item) {
			return nil, false
		}
		s := &specs[i]
		if s.ID == "" || checkVersion(s.Version) != nil {
			return nil, false
		}
		s.Source, s.Index = name, i
	}
	return specs, true
}

// treeFields maps a struct type's JSON field names to field indexes.
var treeFields sync.Map // reflect.Type → map[string]int

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	anyType         = reflect.TypeFor[any]()
)

// fieldsOf returns t's JSON field names, or nil for a struct that
// encoding/json would decode in ways treeAssign does not follow
// (embedded fields).
func fieldsOf(t reflect.Type) map[string]int {
	if m, ok := treeFields.Load(t); ok {
		return m.(map[string]int)
	}
	m := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			m = nil
			break
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		m[tag] = i
	}
	treeFields.Store(t, m)
	return m
}

// treeAssign sets v, a zero value, to y as encoding/json sets it to y's
// JSON form, reporting false where specsFromTree says.
func treeAssign(v reflect.Value, y any) bool {
	t := v.Type()
	if t != anyType && (t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
		t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler)) {
		return false
	}
	if y == nil {
		return true // null leaves any value as it is (zero)
	}
	switch t.Kind() {
	case reflect.Interface:
		j, ok := treeJSON(y)
		if ok && j != nil {
			v.Set(reflect.ValueOf(j))
		}
		return ok && t == anyType
	case reflect.String:
		s, ok := y.(string)
		if ok && utf8.ValidString(s) {
			v.SetString(s)
			return true
		}
	case reflect.Bool:
		b, ok := y.(bool)
		v.SetBool(b)
		return ok
	case reflect.Int, reflect.Int64, reflect.Int32:
		var n int64
		switch x := y.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		default:
			return false
		}
		if v.OverflowInt(n) {
			return false
		}
		v.SetInt(n)
		return true
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if !treeAssign(p.Elem(), y) {
			return false
		}
		v.Set(p)
		return true
	case reflect.Slice:
		l, ok := y.([]any)
		if !ok {
			return false
		}
		s := reflect.MakeSlice(t, len(l), len(l))
		for i, e := range l {
			if !treeAssign(s.Index(i), e) {
				return false
			}
		}
		v.Set(s)
		return true
	case reflect.Map:
		m, ok := y.(map[any]any)
		if !ok || t.Key().Kind() != reflect.String {
			return false
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for k, e := range m {
			ks, ok := k.(string)
			if !ok || !utf8.ValidString(ks) {
				return false
			}
			ev := reflect.New(t.Elem()).Elem()
			if !treeAssign(ev, e) {
				return false
			}
			out.SetMapIndex(reflect.ValueOf(ks).Convert(t.Key()), ev)
		}
		v.Set(out)
		return true
	case reflect.Struct:
		m, ok := y.(map[any]any)
		fields := fieldsOf(t)
		if !ok || fields == nil {
			return false
		}
		for k, e := range m {
			ks, ok := k.(string)
			if !ok {
				return false
			}
			i, ok := fields[ks]
			if !ok || !treeAssign(v.Field(i), e) {
				return false
			}
		}
		return true
	}
	return false
}

// treeJSON is y, a YAML parse, as encoding/json decodes its JSON form into
// an interface{}: numbers are float64, objects map[string]any.
func treeJSON(y any) (any, bool) {
	switch x := y.(type) {
	case nil, bool:
		return x, true
	case string:
		return x, utf8.ValidString(x)
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var ok bool
			if out[i], ok = treeJSON(e); !ok {
				return nil, false
			}
		}
		return out, true
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok || !utf8.ValidString(ks) {
				return nil, false
			}
			if out[ks], ok = treeJSON(e); !ok {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}
