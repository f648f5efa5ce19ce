package tmpl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// compiledForms are templates that must take the compiled path.
var compiledForms = []string{
	"{{ print .Subject }}", "{{ .Subject }}", "{{- .Subject -}}",
	"{{ print .Extra.x }}", "{{ .Extra.x }}", "{{ .Extra.a.b }}", "{{ print .Extra.a.b }}",
	`{{ .MatchContext.Header.Get "X-Foo" }}`,
	"{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}", "{{ printIndex .MatchContext.RegexpCaptureGroups 5 }}",
	"{{ printIndex .MatchContext.RegexpCaptureGroups -1 }}",
	"t={{ print .Extra.x }};s={{ .Subject }}!", "{{ .Extra.x }}{{ .Extra.a.b }}",
	"{{ jsonQuote .Subject }}", "{{ jsonQuote .Extra.x }}", "{{ jsonQuote .Extra.a.b }}", `{"e":{{ jsonQuote .Extra.x }}}`,
}

// fallbackForms are templates text/template renders alone.
var fallbackForms = []string{
	"{{ .Extra }}", "{{ upper .Subject }}", "{{ jsonQuote .Extra }}", `{{ jsonQuote .MatchContext.Header }}`, "{{ .Subject | print }}", `{{ print .Subject "x" }}`,
	"{{ $x := .Subject }}{{ $x }}", "{{ if .Extra.x }}y{{ end }}", "{{ .MatchContext.Method }}",
	`{{ define "t" }}x{{ end }}{{ .Subject }}`, "{{ printIndex .Extra.l 0 }}", "{{/* c */}}",
}

func TestCompiledFormsAreRecognised(t *testing.T) {
	s := diffSession(map[string]any{"x": "acme", "a": map[string]any{"b": 1e6}})
	for _, text := range compiledForms {
		fast := MustParse("c", text).fast
		if fast == nil {
			t.Errorf("%q: not compiled", text)
		} else if _, ok := fast.execute(s); !ok {
			t.Errorf("%q: compiled form fell back to text/template", text)
		}
	}
	for _, text := range fallbackForms {
		if MustParse("f", text).fast != nil {
			t.Errorf("%q: compiled, want text/template", text)
		}
	}
}

// diffValues are claim values of every type a session can hold.
var diffValues = []any{
	"acme", "", "<b>&amp;", 1e6, 3.0, 0.5, -0.0, math.Inf(1), math.NaN(), 1e21, 123456789.0, 42, int64(-7),
	true, false, nil, json.Number("12.50"), map[string]any{"b": "x", "c": 1.0}, []any{"p", 2.0, nil},
	[]string{"s"}, map[string]string{"b": "typed"}, &struct{ A int }{1}, struct{}{}, []byte("raw"),
}

// TestCompiledMatchesTextTemplate renders every compiled and fallback
// form over sessions holding every value type, at every position a key
// can be (present, nested, missing, under a non-map), and requires
// Execute to give text/template's output and error byte for byte.
func TestCompiledMatchesTextTemplate(t *testing.T) {
	forms := append(append([]string{}, compiledForms...), fallbackForms...)
	var sessions []*pipeline.Session
	sessions = append(sessions, &pipeline.Session{}) // nil Extra, headers, captures
	for _, v := range diffValues {
		sessions = append(sessions,
			diffSession(map[string]any{"x": v, "a": map[string]any{"b": v}}),
			diffSession(map[string]any{"a": v}), // .Extra.a.b under a non-map
			diffSession(map[string]any{"a": map[string]any{}}),
		)
	}
	for _, text := range forms {
		tp := MustParse("d", text)
		for i, s := range sessions {
			assertSameAsTextTemplate(t, tp, s, i)
		}
	}
}

func diffSession(extra map[string]any) *pipeline.Session {
	return &pipeline.Session{
		Subject: "alice",
		Extra:   extra,
		MatchContext: pipeline.MatchContext{
			RegexpCaptureGroups: []string{"42", "orders"},
			Header:              pipeline.Header{"x-foo": {"bar", "baz"}},
		},
	}
}

// assertSameAsTextTemplate compares Execute with text/template's own
// rendering of the same parsed template.
func assertSameAsTextTemplate(t *testing.T, tp *Template, s *pipeline.Session, i int) {
	t.Helper()
	got, gotErr := tp.Execute(s)
	// The reference writes through the same bounded output as Execute.
	want := &output{}
	wantErr := tp.t.Execute(want, s)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q session %d: error %v, text/template error %v", tp.Source(), i, gotErr, wantErr)
	}
	if gotErr == nil && got != string(want.buf) {
		t.Fatalf("%q session %d: got %q, text/template %q", tp.Source(), i, got, want.buf)
	}
}

// TestCompiledOutputLimit: an output over MaxOutputBytes fails as it does
// in text/template, whether one claim or the text around it is too long.
func TestCompiledOutputLimit(t *testing.T) {
	big := strings.Repeat("x", MaxOutputBytes)
	for _, text := range []string{"{{ .Extra.x }}", "{{ print .Extra.x }}", "a{{ .Extra.x }}", "{{ .Extra.x }}{{ .Subject }}"} {
		tp := MustParse("l", text)
		for _, v := range []string{big, big + "y"} {
			assertSameAsTextTemplate(t, tp, diffSession(map[string]any{"x": v}), len(v))
		}
	}
}

// FuzzCompiledMatchesTextTemplate renders the compiled forms over fuzzed
// claim values: a string, a number, a bool, and JSON of any shape (maps,
// slices, null), as an authenticator decodes claims.
func FuzzCompiledMatchesTextTemplate(f *testing.F) {
	f.Add("acme", 1e6, true, `{"b":"x"}`, "x", "X-Foo")
	f.Add("", -0.0, false, `null`, "a", "x-foo")
	f.Add("<no value>", 1e-7, true, `[1,"a",null,{"k":2}]`, "missing", "")
	f.Add("ü\x00", math.MaxFloat64, false, `1.5e300`, "b", "X-FOO")
	// The fixed forms are parsed once: parsing them on every input made
	// each run take milliseconds, and a run still going when -fuzztime
	// ends is reported as "context deadline exceeded".
	var fixed []*Template
	for _, text := range append(append([]string{}, compiledForms...),
		"{{ .Extra.s }}|{{ .Extra.n }}|{{ .Extra.f }}|{{ .Extra.j }}",
		"{{ print .Extra.s }}|{{ print .Extra.n }}|{{ print .Extra.f }}|{{ print .Extra.j }}",
	) {
		tp, err := Parse("z", text)
		if err != nil {
			f.Fatalf("%q: %v", text, err)
		}
		fixed = append(fixed, tp)
	}
	f.Fuzz(func(t *testing.T, str string, num float64, flag bool, raw, key, header string) {
		var decoded any
		if json.Unmarshal([]byte(raw), &decoded) != nil {
			decoded = raw
		}
		extra := map[string]any{
			"s": str, "n": num, "f": flag, "j": decoded, key: decoded,
			"a": map[string]any{"b": decoded, key: str},
		}
		s := diffSession(extra)
		s.MatchContext.Header[strings.ToLower(header)] = []string{str}
		for _, tp := range fixed {
			assertSameAsTextTemplate(t, tp, s, 0)
		}
		var texts []string
		for _, field := range []string{key, "a." + key, "j." + key} {
			if validIdent(key) {
				texts = append(texts, "{{ .Extra."+field+" }}", "{{ print .Extra."+field+" }}")
			}
		}
		if validHeader(header) {
			texts = append(texts, `{{ .MatchContext.Header.Get "`+header+`" }}`)
		}
		for _, text := range texts {
			tp, err := Parse("z", text)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			assertSameAsTextTemplate(t, tp, s, 0)
		}
	})
}

// validIdent reports whether k can follow a dot in a template field.
func validIdent(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// validHeader reports whether h can sit in a template string literal.
func validHeader(h string) bool {
	for _, r := range h {
		if r == '"' || r == '\\' || r < ' ' || r > '~' {
			return false
		}
	}
	return true
}

// compiledJSONForms are JSON templates (claims, payloads) that must take
// the compiled path.
var compiledJSONForms = []string{
	`{"aud": ["api://orders"], "tenant": "{{ print .Extra.x }}"}`,
	`{"sub":"{{ .Subject }}","x":"{{ .Extra.x }}"}`, `{"n":{{ print .Extra.x }}}`, `{"n":{{ .Extra.a.b }}}`,
	`{"h":"{{ .MatchContext.Header.Get "X-Foo" }}","c":["{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"]}`,
	`{"a":{"b":"{{ print .Extra.a.b }}"},"s":"{{- .Subject -}}"}`, ` {"static": true} `,
	`[{{ print .Extra.x }}, "{{ .Subject }}"]`, `{"x":"{{ .Extra.x }}"}{{ .Subject }}`,
	`{"aud":"svc-a","email":{{ jsonQuote .Extra.x }},"sub":{{ jsonQuote .Subject }},"n":{{ jsonQuote .Extra.a.b }}}`,
}

// jsonInjections are values that try to change a JSON template's
// structure, besides diffValues.
var jsonInjections = []any{
	`a","admin":true,"x":"`, `1,"admin":true`, `"}`, `{"a":1}`, `[1,2]`, `1`, `x\`, `"`, `,"sub":"x"`,
}

// TestCompiledJSONMatchesTextTemplate requires JSON.Execute's compiled
// path to give what text/template's rendering and the same checks give,
// byte for byte and error for error, including the outputs the checks
// refuse (a value that adds a member or breaks the JSON).
func TestCompiledJSONMatchesTextTemplate(t *testing.T) {
	var sessions []*pipeline.Session
	sessions = append(sessions, &pipeline.Session{})
	for _, v := range append(append([]any{}, diffValues...), jsonInjections...) {
		sessions = append(sessions,
			diffSession(map[string]any{"x": v, "a": map[string]any{"b": v}}),
			diffSession(map[string]any{"a": v}),
		)
		if s, ok := v.(string); ok {
			sub := diffSession(map[string]any{"x": "acme"})
			sub.Subject = s
			sub.MatchContext.Header["x-foo"] = []string{s}
			sub.MatchContext.RegexpCaptureGroups = []string{s}
			sessions = append(sessions, sub)
		}
	}
	for _, text := range compiledJSONForms {
		j, err := ParseJSON("j", text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if j.t.fast == nil {
			t.Fatalf("%q: not compiled", text)
		}
		for i, s := range sessions {
			assertJSONSameAsTextTemplate(t, j, s, i)
		}
	}
}

// assertJSONSameAsTextTemplate compares JSON.Execute with the same
// template forced onto text/template.
func assertJSONSameAsTextTemplate(t *testing.T, j *JSON, s *pipeline.Session, i int) {
	t.Helper()
	got, gotErr := j.Execute(s)
	slowT := *j.t
	slowT.fast = nil
	want, wantErr := (&JSON{t: &slowT, text: j.text}).Execute(s)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q session %d: error %v, text/template error %v", j.Source(), i, gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%q session %d: got %q, text/template %q", j.Source(), i, got, want)
	}
}

// TestCompiledJSONOutputLimit: a JSON output over MaxOutputBytes fails
// as it does in text/template.
func TestCompiledJSONOutputLimit(t *testing.T) {
	j, err := ParseJSON("l", `{"x":"{{ .Extra.x }}"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{MaxOutputBytes - 8, MaxOutputBytes - 7, MaxOutputBytes} {
		assertJSONSameAsTextTemplate(t, j, diffSession(map[string]any{"x": strings.Repeat("x", n)}), n)
	}
}

// FuzzCompiledJSONMatchesTextTemplate renders the compiled JSON forms over
// fuzzed subjects, header values and claim values of every JSON shape.
func FuzzCompiledJSONMatchesTextTemplate(f *testing.F) {
	f.Add("alice", `a","admin":true,"x":"`, `{"b":"x"}`)
	f.Add(`"}`, `1,"admin":true`, `null`)
	f.Add("\xff", "\u2028", `[1,"a",{"k":2}]`)
	var forms []*JSON
	for _, text := range compiledJSONForms {
		j, err := ParseJSON("z", text)
		if err != nil {
			f.Fatal(err)
		}
		forms = append(forms, j)
	}
	f.Fuzz(func(t *testing.T, subject, str, raw string) {
		var decoded any
		if json.Unmarshal([]byte(raw), &decoded) != nil {
			decoded = raw
		}
		for _, x := range []any{str, decoded} {
			s := diffSession(map[string]any{"x": x, "a": map[string]any{"b": decoded}})
			s.Subject = subject
			s.MatchContext.Header["x-foo"] = []string{str}
			s.MatchContext.RegexpCaptureGroups = []string{str}
			for _, j := range forms {
				assertJSONSameAsTextTemplate(t, j, s, 0)
			}
		}
	})
}
