package tmpl_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/pipeline/tmpl"
)

// fuzzSession is the session a rule template renders over, with the
// client-influenced parts (subject, claims, captures, headers, query)
// taken from the fuzzer.
func fuzzSession(subject, value string) *pipeline.Session {
	return &pipeline.Session{
		Subject: subject,
		Extra: map[string]any{
			"email": value, "n": value, "groups": []any{value, "admins"},
			"nested": map[string]any{"v": value}, "num": 42.0, "flag": true,
		},
		Header: pipeline.Header{"x-user": {subject}},
		MatchContext: pipeline.MatchContext{
			RegexpCaptureGroups: []string{value, "orders"},
			URL:                 &url.URL{Scheme: "https", Host: "api.test", Path: "/orders/" + value, RawQuery: "q=" + url.QueryEscape(value)},
			Method:              "GET",
			Header:              pipeline.Header{"x-foo": {value}, "authorization": {"Bearer " + subject}},
		},
	}
}

// templateSeeds are rule templates in Oathkeeper's style, besides those
// of testdata/oathkeeper_templates.json.
var templateSeeds = []string{
	`{{ print .Subject }}`, `{{ .Extra.email }}`, `{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}`,
	`{{ .MatchContext.Header.Get "x-foo" }}`, `{{ .MatchContext.URL.Query.Get "q" }}`,
	`{"sub":"{{ .Subject }}","email":"{{ print .Extra.email }}"}`, `{"n":{{ print .Extra.n }}}`,
	`{"extra":{{ toJson .Extra }},"sub":{{ jsonQuote .Subject }}}`, `{{ if .Extra.flag }}{"a":1}{{ else }}[]{{ end }}`,
	`{{ .Subject | upper | trunc 3 }}`, `{{ repeat 3 .Subject }}`, `{{ env "HOME" }}`, `{{ $x := .Subject }}{{ $x }}`,
	`{{ .Extra.nested.v | b64enc | b64dec }}`, `{{ regexReplaceAll "a+" .Subject "b" }}`, `{{ printf "%q" .Extra }}`,
}

// FuzzTemplate parses fuzzed template text as a plain and as a JSON
// template, and renders what parses over a session holding fuzzed values.
// Parsing never panics. Rendering never panics, is deterministic (the
// function set is hermetic), leaves the session as it was, stays within
// MaxOutputBytes, and a JSON template's accepted output is one JSON text
// without duplicate members.
func FuzzTemplate(f *testing.F) {
	for _, s := range append(templateSeeds, fileTemplates(f)...) {
		f.Add(s, "alice@example.com", "42")
	}
	f.Add(`{"sub":"{{ .Subject }}"}`, `a@b.c","admin":true,"x":"`, "x")
	f.Fuzz(func(t *testing.T, text, subject, value string) {
		pt, perr := tmpl.Parse("fuzz", text)
		jt, jerr := tmpl.ParseJSON("fuzz", text)
		if perr != nil && jerr == nil {
			t.Fatalf("ParseJSON accepts %q, which Parse refuses: %v", text, perr)
		}
		if perr != nil || !boundedText(text) {
			return
		}
		s := fuzzSession(subject, value)
		out, err := pt.Execute(s)
		again, err2 := pt.Execute(s)
		switch {
		case out != again || (err == nil) != (err2 == nil):
			t.Fatalf("%q renders %q, %v, then %q, %v", text, out, err, again, err2)
		case len(out) > tmpl.MaxOutputBytes:
			t.Fatalf("%q rendered %d bytes, more than MaxOutputBytes", text, len(out))
		case !reflect.DeepEqual(s, fuzzSession(subject, value)):
			t.Fatalf("rendering %q changed the session", text)
		}
		if jerr != nil {
			return
		}
		b, err := jt.Execute(s)
		if err != nil {
			return
		}
		if err := checkJSONText(b); err != nil {
			t.Fatalf("JSON template %q accepted output %s: %v", text, b, err)
		}
	})
}

// jsonTemplates are payload and claims templates as rules write them; keys
// are the top-level members each writes. The fuzzed values must never add,
// remove or repeat one.
// sub, when set, is the member holding {{ jsonQuote .Subject }}.
var jsonTemplates = []struct {
	text string
	keys []string
	sub  string
}{
	{`{"subject":"{{ print .Subject }}","resource":"{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}","action":"read"}`, []string{"action", "resource", "subject"}, ""},
	{`{"email": "{{ print .Extra.email }}", "aud": ["api"], "ctx": {"path": "{{ .MatchContext.URL.Path }}"}}`, []string{"aud", "ctx", "email"}, ""},
	{`{"n":{{ print .Extra.n }},"sub":{{ jsonQuote .Subject }}}`, []string{"n", "sub"}, "sub"},
	{`{"groups":{{ toJson .Extra.groups }},"h":"{{ .MatchContext.Header.Get "x-foo" }}"}`, []string{"groups", "h"}, ""},
}

// FuzzJSONTemplateValues renders fixed remote_json and id_token templates
// over fuzzed values: an accepted output has exactly the template's
// top-level members, and jsonQuote always yields the value itself.
func FuzzJSONTemplateValues(f *testing.F) {
	f.Add("alice", "alice@example.com")
	f.Add(`a@b.c","admin":true,"x":"`, `1,"admin":true`)
	f.Add(`x\"}`, `{"a":1`)
	f.Add("\xff\xfe", "\u2028")
	compiled := make([]*tmpl.JSON, len(jsonTemplates))
	for i, jt := range jsonTemplates {
		var err error
		if compiled[i], err = tmpl.ParseJSON("payload", jt.text); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, subject, value string) {
		s := fuzzSession(subject, value)
		for i, jt := range compiled {
			b, err := jt.Execute(s)
			if err != nil {
				if !errors.Is(err, tmpl.ErrOutputNotJSON) && !errors.Is(err, tmpl.ErrOutputStructure) {
					t.Fatalf("%s: %v", jsonTemplates[i].text, err)
				}
				continue
			}
			if err := checkJSONText(b); err != nil {
				t.Fatalf("accepted output %s: %v", b, err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("accepted output %s is not an object: %v", b, err)
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, jsonTemplates[i].keys) {
				t.Fatalf("template %s with subject %q, value %q: members %q, want %q", jsonTemplates[i].text, subject, value, keys, jsonTemplates[i].keys)
			}
			if want, _ := json.Marshal(subject); jsonTemplates[i].sub != "" && !bytes.Equal(m[jsonTemplates[i].sub], want) {
				t.Fatalf("jsonQuote of %q gave %s, want %s", subject, m["sub"], want)
			}
		}
	})
}

// checkJSONText checks independently of the package that b is one JSON
// text in which no object has a member twice.
func checkJSONText(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // JSON has no number range; float64 has
	if err := checkValue(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON text")
	}
	return nil
}

func checkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			if seen[k.(string)] {
				return errors.New("duplicate member " + k.(string))
			}
			seen[k.(string)] = true
			if err := checkValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

// unbounded finds what lets a template's running time grow beyond its
// size: loops (range, also over integer literals), recursion through
// defined templates, and integer literals large enough to make a single
// function call costly (widths, counts).
var unbounded = regexp.MustCompile(`range|template|define|block|[0-9]{4,}|0[xXoObB]|[0-9][eEpP]`)

// boundedText reports whether rendering text costs time proportional to
// its size. Template text is trusted rule configuration, so a template
// that loops a billion times is the rule author's choice, not a finding;
// the fuzzer renders only the others.
func boundedText(text string) bool {
	return len(text) <= 256 && !unbounded.MatchString(text)
}

// fileTemplates returns the templates of testdata/oathkeeper_templates.json
// (none when its layout changes: they are extra seeds).
func fileTemplates(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile("testdata/oathkeeper_templates.json")
	if err != nil {
		return nil
	}
	var doc struct {
		Cases []struct {
			Template string `json:"template"`
		} `json:"cases"`
	}
	_ = json.Unmarshal(b, &doc)
	var out []string
	for _, c := range doc.Cases {
		out = append(out, c.Template)
	}
	return out
}
