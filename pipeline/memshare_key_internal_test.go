package pipeline

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// sameKey reports whether ShareHandlers would give lists a and b one key,
// and whether both have one.
func sameKey(a, b []HandlerSpec) (same, ok bool) {
	var sh sharer
	if !sh.key("mutators", a) {
		return false, false
	}
	ka := string(sh.buf)
	if !sh.key("mutators", b) {
		return false, false
	}
	return ka == string(sh.buf), true
}

// jsonEqual is the old sharing rule: equal JSON forms.
func jsonEqual(t testing.TB, a, b []HandlerSpec) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		t.Fatalf("json.Marshal: %v %v", errA, errB)
	}
	return bytes.Equal(ja, jb)
}

// Two handler lists get one key exactly when their JSON forms are equal,
// for every config decoded from JSON or YAML.
func TestShareKeyIsJSONEquality(t *testing.T) {
	list := func(conf string) []HandlerSpec {
		var c map[string]any
		if err := json.Unmarshal([]byte(conf), &c); err != nil {
			t.Fatal(err)
		}
		return []HandlerSpec{{Handler: "header", Config: c}}
	}
	tests := []struct{ a, b string }{
		{`{"a":1,"b":"x"}`, `{"b":"x","a":1}`},
		{`{"a":1}`, `{"a":1.0}`},
		{`{"a":1}`, `{"a":"1"}`},
		{`{"a":[1,2]}`, `{"a":[2,1]}`},
		{`{"a":{"b":{}}}`, `{"a":{"b":[]}}`},
		{`{"a":null}`, `{}`},
		{`null`, `{}`},
		{`{"ab":"c"}`, `{"a":"bc"}`},
		{`{"a":["b","c"]}`, `{"a":["bc"]}`},
		{`{"a":true}`, `{"a":false}`},
		{`{"a":-0}`, `{"a":0}`},
		{`{"x":{"a":1,"b":2}}`, `{"x":{"b":2,"a":1}}`},
	}
	for _, tt := range tests {
		a, b := list(tt.a), list(tt.b)
		same, ok := sameKey(a, b)
		if !ok || same != jsonEqual(t, a, b) {
			t.Errorf("%s vs %s: same key = %v (ok %v), JSON equal = %v", tt.a, tt.b, same, ok, jsonEqual(t, a, b))
		}
	}
	withFallthrough := []HandlerSpec{{Handler: "header", Fallthrough: true}}
	if same, _ := sameKey([]HandlerSpec{{Handler: "header"}}, withFallthrough); same {
		t.Error("fallthrough is not part of the key")
	}
	if same, _ := sameKey([]HandlerSpec{{Handler: "a"}, {Handler: "b"}}, []HandlerSpec{{Handler: "ab"}}); same {
		t.Error("two handlers and one share a key")
	}
	if _, ok := sameKey([]HandlerSpec{{Handler: "a", Config: map[string]any{"x": struct{}{}}}}, nil); ok {
		t.Error("a value of an unknown type got a key")
	}
}

// FuzzShareKey checks that two handler configs decoded from JSON get one
// key exactly when their JSON forms are equal (the rule ShareHandlers
// shared by before it wrote its own keys).
func FuzzShareKey(f *testing.F) {
	f.Add(`{"a":1,"b":"x"}`, `{"b":"x","a":1}`, false)
	f.Add(`{"h":{"X":"{{ print .Subject }}"}}`, `{"h":{"X":"{{ print .Subject }}"}}`, true)
	f.Add(`{"a":[1,{"b":null}]}`, `{"a":[1,{"b":false}]}`, false)
	f.Fuzz(func(t *testing.T, a, b string, fallthrough_ bool) {
		var ca, cb map[string]any
		if json.Unmarshal([]byte(a), &ca) != nil || json.Unmarshal([]byte(b), &cb) != nil {
			return
		}
		la := []HandlerSpec{{Handler: "h", Config: ca, Fallthrough: fallthrough_}}
		lb := []HandlerSpec{{Handler: "h", Config: cb}}
		same, ok := sameKey(la, lb)
		if !ok {
			t.Fatalf("no key for %s or %s", a, b)
		}
		if want := jsonEqual(t, la, lb); same != want {
			t.Fatalf("%s vs %s: same key = %v, JSON equal = %v", a, b, same, want)
		}
	})
}

// The sharing key lists HandlerSpec's fields by hand (sharer.key): a
// field added to HandlerSpec but not to the key would let two rules that
// differ in it share one handler list, each running with the other's
// setting. This fails until the key covers the new field.
func TestShareKeyCoversEveryHandlerField(t *testing.T) {
	covered := map[string]bool{"Handler": true, "Config": true, "Fallthrough": true}
	typ := reflect.TypeFor[HandlerSpec]()
	for i := range typ.NumField() {
		if f := typ.Field(i); !covered[f.Name] {
			t.Errorf("HandlerSpec.%s is not in sharer.key: add it there, then here", f.Name)
		}
	}
	if typ.NumField() != len(covered) {
		t.Errorf("HandlerSpec has %d fields, the sharing key covers %d", typ.NumField(), len(covered))
	}
}
