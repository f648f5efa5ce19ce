package pipeline

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// Suggest returns the candidate closest to word when it is close enough to
// be a likely typo ("jwtt" → "jwt", "prot" → "port", "enabeld" →
// "enabled"), else "". The distance counts insertions, deletions,
// substitutions and swaps of neighbours, case-insensitively; up to a
// third of the word's length may differ (at least one, at most three).
// Ties go to the earlier candidate, so pass a sorted list.
func Suggest(word string, candidates []string) string {
	limit := min(max(len(word)/3, 1), 3)
	best, bestDist := "", limit+1
	w := strings.ToLower(word)
	for _, c := range candidates {
		if d := editDistance(w, strings.ToLower(c)); d < bestDist && c != word {
			best, bestDist = c, d
		}
	}
	return best
}

// DidYouMean returns ` (did you mean "x"?)` for Suggest's pick, or "".
func DidYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// editDistance is the optimal string alignment distance (Levenshtein plus
// adjacent transpositions) between a and b, by bytes.
func editDistance(a, b string) int {
	// Three rows of the dynamic-programming table: two back for swaps.
	prev2, prev, cur := make([]int, len(b)+1), make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// UnknownField is a key of a decoded JSON or YAML document that the type
// it decodes into does not have.
type UnknownField struct {
	// Parent locates the object holding the key from the document's root
	// ("match", "when[0].request.header", "serve.grpc"; "" at the root).
	Parent string
	// Key is the unknown key.
	Key string
	// Known lists the keys allowed next to it, sorted.
	Known []string
}

// Path is the key's full dotted path: "match.method", "serve.grpc.prot".
func (u UnknownField) Path() string { return join(u.Parent, u.Key) }

// Error renders the field in the project's "field: problem" style, with a
// did-you-mean when a known key is close:
// `match: unknown field "method" (did you mean "methods"?)`.
func (u UnknownField) Error() string {
	msg := fmt.Sprintf("unknown field %q%s", u.Key, DidYouMean(u.Key, u.Known))
	if u.Parent == "" {
		return msg
	}
	return u.Parent + ": " + msg
}

// UnknownFields lists every key of v (a document decoded into maps, lists
// and scalars) that a value of type t would not accept through its json
// tags, in document order of sorted keys. Keys match fields exactly or,
// as encoding/json and mapstructure match them, case-insensitively. Parts
// of v whose type decodes itself (json.Unmarshaler, TextUnmarshaler), free
// maps (map[string]any) and values of the wrong shape are not walked: the
// decoder reports those.
func UnknownFields(v any, t reflect.Type) []UnknownField {
	var out []UnknownField
	walkFields(v, t, "", &out)
	return out
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func walkFields(v any, t reflect.Type, path string, out *[]UnknownField) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		fields := jsonFields(t)
		known := make([]string, 0, len(fields))
		for k := range fields {
			known = append(known, k)
		}
		sort.Strings(known)
		for _, k := range sortedKeys(m) {
			f, ok := fields[k]
			if !ok {
				for name, ff := range fields {
					if strings.EqualFold(name, k) {
						f, ok = ff, true
						break
					}
				}
			}
			if !ok {
				*out = append(*out, UnknownField{Parent: path, Key: k, Known: known})
				continue
			}
			walkFields(m[k], f, join(path, k), out)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			return
		}
		for _, k := range sortedKeys(m) {
			walkFields(m[k], t.Elem(), join(path, k), out)
		}
	case reflect.Slice, reflect.Array:
		list, ok := v.([]any)
		if !ok {
			return
		}
		for i, e := range list {
			walkFields(e, t.Elem(), path+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

// jsonFields maps the json names of t's fields to their types, with
// untagged embedded structs inlined as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case tag == "-":
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// UnknownFieldsError joins the unknown fields of one document into one
// line: `unknown field "a" (did you mean "b"?); retry: unknown field "c"`. It is
// nil for none.
func UnknownFieldsError(fields []UnknownField) error {
	if len(fields) == 0 {
		return nil
	}
	msgs := make([]string, len(fields))
	for i, f := range fields {
		msgs[i] = f.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// JSONDecodeError rewrites an encoding/json decoding error into the
// project's "field: problem" style, with JSON's names for kinds of value
// instead of Go type names: `match.methods: must be a list, not a string`.
func JSONDecodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		msg := fmt.Sprintf("must be %s, not %s", KindName(te.Type), jsonValueName(te.Value))
		if te.Field != "" {
			return fmt.Errorf("%s: %s", te.Field, msg)
		}
		return errors.New(msg)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// KindName names what a value of type t looks like in a JSON or YAML
// document: "a list", "an object", "a string", "a whole number", ...
func KindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value"
}

// jsonValueName names the JSON kind encoding/json reports ("string",
// "number", "number 1.5", "array", "object", "bool").
func jsonValueName(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number "):
		return "the number " + strings.TrimPrefix(v, "number ")
	case v == "":
		return "this value"
	}
	return "a " + v
}
