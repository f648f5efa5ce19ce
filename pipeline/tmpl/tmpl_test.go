package tmpl

import (
	"net/url"
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

func TestExecuteJSONRejectsBrokenOutput(t *testing.T) {
	tp := MustParse("p", `{"sub":"{{ .Subject }}"}`)
	if _, err := tp.ExecuteJSON(session{Subject: `x","admin":true,"y":"`}); err != nil {
		t.Fatalf("injected but still valid JSON is accepted by ExecuteJSON: %v", err)
	}
	if _, err := tp.ExecuteJSON(session{Subject: `x"`}); err == nil {
		t.Fatal("want invalid JSON error")
	}
	safe := MustParse("p", `{"sub":{{ jsonQuote .Subject }}}`)
	out, err := safe.ExecuteJSON(session{Subject: `x","admin":true,"y":"`})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"sub":"x\",\"admin\":true,\"y\":\""}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
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
