package tmpl

import (
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"text/template"

	"github.com/portcullis-authz/portcullis/pipeline"
)

type session struct {
	Subject      string
	Extra        map[string]any
	MatchContext struct {
		RegexpCaptureGroups []string
		URL                 *url.URL
	}
}

func TestExecuteOathkeeperSemantics(t *testing.T) {
	s := session{Subject: "alice", Extra: map[string]any{"a": "b", "n": map[string]any{"x": 1}, "l": []any{"p", "q"}}}
	s.MatchContext.RegexpCaptureGroups = []string{"42"}
	s.MatchContext.URL = &url.URL{Path: "/users/42", RawQuery: "q=v"}
	tests := []struct{ name, text, want string }{
		{"subject", "{{ .Subject }}", "alice"},
		{"static", "plain", "plain"},
		{"missing key renders no value", "{{ .Extra.missing }}", "<no value>"},
		{"print of missing is empty", "{{ print .Extra.missing }}", ""},
		{"print of value", "{{ print .Extra.a }}", "b"},
		{"printIndex in range", "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}", "42"},
		{"printIndex out of range", "{{ printIndex .MatchContext.RegexpCaptureGroups 3 }}", ""},
		{"printIndex any list", "{{ printIndex .Extra.l 1 }}", "q"},
		{"url query", `{{ .MatchContext.URL.Query.Get "q" }}`, "v"},
		{"sprig", `{{ upper .Subject }}`, "ALICE"},
		{"jsonQuote escapes", `{{ jsonQuote "a\"b" }}`, `"a\"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, err := Parse(tt.name, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tp.Execute(s)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseErrorNamesProblem(t *testing.T) {
	if _, err := Parse("x", "{{ .Subject "); err == nil {
		t.Fatal("want parse error")
	}
	if _, err := Parse("x", "{{ nosuchfunc }}"); err == nil {
		t.Fatal("want unknown function error")
	}
}

func BenchmarkExecuteHeader(b *testing.B) {
	tp := MustParse("h", "{{ print .Subject }}")
	s := &pipeline.Session{Subject: "alice"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tp.Execute(s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSubjectFastPathMatchesTemplateEngine(t *testing.T) {
	for _, text := range []string{"{{ .Subject }}", "{{print .Subject}}", "{{- .Subject -}}", "{{ .Subject }}x"} {
		tp := MustParse("s", text)
		s := &pipeline.Session{Subject: "alice"}
		got, err := tp.Execute(s)
		if err != nil {
			t.Fatal(err)
		}
		want, err := template.Must(template.New("x").Funcs(Funcs()).Parse(text)).Clone()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := want.Execute(&b, s); err != nil {
			t.Fatal(err)
		}
		if got != b.String() {
			t.Errorf("%q: got %q, engine %q", text, got, b.String())
		}
	}
}

// oathkeeperSession is the data of testdata/oathkeeper_templates.json.
func oathkeeperSession() *pipeline.Session {
	return &pipeline.Session{
		Subject: "alice@example.com",
		Extra: map[string]any{"email": "alice@example.com", "name": "Alice", "groups": []any{"admin", "dev"},
			"n": float64(10), "padded": "  x y "},
		MatchContext: pipeline.MatchContext{
			RegexpCaptureGroups: []string{"42", "orders"},
			URL:                 &url.URL{Scheme: "https", Host: "api.test", Path: "/orders/42", RawQuery: "q=v"},
			Method:              "GET",
			Header:              pipeline.Header{"x-foo": {"bar"}},
		},
	}
}

// TestOathkeeperTemplatesStillRender: the hermetic function set keeps the
// functions real rule configs use, with Oathkeeper's output.
func TestOathkeeperTemplatesStillRender(t *testing.T) {
	raw, err := os.ReadFile("testdata/oathkeeper_templates.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Name, Template, Want string
			JSON                 bool
		}
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, tt := range file.Cases {
		t.Run(tt.Name, func(t *testing.T) {
			var got string
			if tt.JSON {
				j, err := ParseJSON("payload", tt.Template)
				if err != nil {
					t.Fatal(err)
				}
				b, err := j.Execute(oathkeeperSession())
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			} else {
				tp, err := Parse("header", tt.Template)
				if err != nil {
					t.Fatal(err)
				}
				if got, err = tp.Execute(oathkeeperSession()); err != nil {
					t.Fatal(err)
				}
			}
			if got != tt.Want {
				t.Errorf("got  %q\nwant %q", got, tt.Want)
			}
		})
	}
}
