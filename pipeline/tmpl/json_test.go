package tmpl

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// breakout is a value that closes its string and adds a member when it is
// spliced into quotes.
const breakout = `a@b.c","admin":true,"x":"`

// TestJSONOutputChecks covers the rules of JSON: values may be spliced in
// anywhere, but never add, duplicate or swallow a member of an object the
// template writes.
func TestJSONOutputChecks(t *testing.T) {
	tests := []struct {
		name, text string
		subject    string
		extra      map[string]any
		want       string // exact output, when err is nil
		err        error
	}{
		{name: "spliced value stays a value", text: `{"sub":"{{ .Subject }}","role":"viewer"}`, subject: "alice",
			want: `{"sub":"alice","role":"viewer"}`},
		{name: "unquoted number", text: `{"n":{{ print .Extra.n }}}`, extra: map[string]any{"n": 10}, want: `{"n":10}`},
		{name: "formatting is kept byte for byte", text: "{ \"a\" :\t[ 1 , {{ print .Extra.n }} ] }\n", extra: map[string]any{"n": 2},
			want: "{ \"a\" :\t[ 1 , 2 ] }\n"},
		{name: "action value may hold anything well-formed", text: `{"x":{{ toJson .Extra }}}`,
			extra: map[string]any{"admin": true, "k": []any{1, map[string]any{"a": 1}}}, want: `{"x":{"admin":true,"k":[1,{"a":1}]}}`},
		{name: "top-level scalar string", text: `"{{ .Subject }}"`, subject: "alice", want: `"alice"`},

		{name: "breakout adds a top-level member", text: `{"sub":"{{ .Subject }}"}`, subject: breakout, err: ErrOutputStructure},
		{name: "breakout through an extra value", text: `{"email":"{{ .Extra.email }}","aud":"svc"}`,
			extra: map[string]any{"email": breakout}, err: ErrOutputStructure},
		{name: "breakout in a nested object", text: `{"ctx":{"user":"{{ .Subject }}","role":"viewer"}}`, subject: breakout,
			err: ErrOutputStructure},
		{name: "breakout adds an array element", text: `["{{ .Subject }}"]`, subject: `a","b`, err: ErrOutputStructure},
		{name: "unquoted value adds a member", text: `{"n":{{ print .Extra.n }}}`, extra: map[string]any{"n": `1,"admin":true`},
			err: ErrOutputStructure},
		{name: "breakout duplicates a member", text: `{"sub":"{{ .Subject }}","role":"viewer"}`,
			subject: `x","role":"admin`, err: ErrOutputStructure},
		{name: "value closes the template's object", text: `{"a":{{ print .Extra.v }}`, extra: map[string]any{"v": `1}`},
			err: ErrOutputStructure},
		{name: "value swallows the template's members", text: `{"a":{{ print .Extra.v }},"role":"viewer","b":{{ print .Extra.w }}}`,
			extra: map[string]any{"v": `{"x":1`, "w": `2}`}, err: ErrOutputStructure},
		{name: "member names computed by an action", text: `{ {{ range $k, $v := .Extra }}"{{ $k }}":1,{{ end }}"z":0}`,
			extra: map[string]any{"a": 1}, err: ErrOutputStructure},
		{name: "conditional duplicate", text: `{"a":1{{ if .Extra.x }},"a":2{{ end }}}`, extra: map[string]any{"x": true},
			err: ErrOutputStructure},
		{name: "duplicate inside a value", text: `{"x":{{ print .Extra.raw }}}`, extra: map[string]any{"raw": `{"a":1,"b":{"c":1,"\u0063":2}}`},
			err: ErrOutputStructure},

		{name: "breakout that breaks the JSON", text: `{"sub":"{{ .Subject }}"}`, subject: `x"}`, err: ErrOutputNotJSON},
		{name: "unquoted string", text: `{"sub":{{ .Subject }}}`, subject: "s3cr3t", err: ErrOutputNotJSON},
		{name: "empty output", text: `{{ if .Extra.x }}{}{{ end }}`, err: ErrOutputNotJSON},
		{name: "two texts", text: `{} {"a":"{{ .Subject }}"}`, err: ErrOutputNotJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := ParseJSON("payload", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			got, err := j.Execute(&pipeline.Session{Subject: tt.subject, Extra: tt.extra})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %s, %v; want %v", got, err, tt.err)
				}
				for _, secret := range []string{"admin", "s3cr3t", "viewer"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q shows output content", err)
					}
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// TestParseJSONRefuses: templates whose top-level members would come from
// an action, and static texts that are not valid JSON, do not load.
func TestParseJSONRefuses(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"whole output is an action", `{{ toJson .Extra }}`, "must start with its own text"},
		{"after blanks and a declaration", "  {{ $x := .Extra }}{{ toJson $x }}", "must start with its own text"},
		{"in a branch", `{{ if .Extra }}{{ toJson .Extra }}{{ else }}{}{{ end }}`, "must start with its own text"},
		{"after an empty branch", `{{ if .Extra }}{{ end }}{{ .Subject }}`, "must start with its own text"},
		{"a template call", `{{ define "t" }}{}{{ end }}{{ template "t" }}`, "must start with its own text"},
		{"static duplicate", `{"a":1,"\u0061":2}`, "duplicate member"},
		{"static invalid", `{"a":}`, "not one JSON text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJSON("claims", tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "claims") {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	for _, ok := range []string{
		`{{ if .Extra }}{"a":1}{{ else }}{}{{ end }}`,
		`{{ $x := 1 }}{"a":{{ $x }}}`,
		`{{ range .Extra.l }}{{ end }}{}`,
		"\n{\"a\": {{ toJson .Extra }}}",
	} {
		if _, err := ParseJSON("claims", ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestOutputTracksTemplateText pins what the checks rely on: text/template
// writes each text node with one Write of the node's own bytes, and action
// output from elsewhere. If a Go release changed that, every JSON template
// with members would fail closed and this test says why.
func TestOutputTracksTemplateText(t *testing.T) {
	j, err := ParseJSON("p", `{"a":"{{ .Subject }}",{{ if true }}"b":{{ end }}1}`)
	if err != nil {
		t.Fatal(err)
	}
	o := getOutput(j.text)
	defer putOutput(o)
	if err := j.t.t.Execute(o, &pipeline.Session{Subject: "xyz"}); err != nil {
		t.Fatal(err)
	}
	// {"a":"xyz","b":1}: "xyz" (bytes 6-8) is the action's.
	want := spans{{0, 6}, {9, 17}}
	if string(o.buf) != `{"a":"xyz","b":1}` || len(o.lit) != len(want) || o.lit[0] != want[0] || o.lit[1] != want[1] {
		t.Fatalf("output %s, template text %v; want %v", o.buf, o.lit, want)
	}
}

func TestJSONExecuteIsSafeForConcurrentUse(t *testing.T) {
	j, err := ParseJSON("p", `{"sub":"{{ .Subject }}","n":{{ print .Extra.n }}}`)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				subject := "user"
				if (g+i)%2 == 1 {
					subject = breakout
				}
				out, err := j.Execute(&pipeline.Session{Subject: subject, Extra: map[string]any{"n": i}})
				if subject == breakout && !errors.Is(err, ErrOutputStructure) || subject != breakout && err != nil {
					errs <- err
					return
				}
				if err == nil && !strings.HasPrefix(string(out), `{"sub":"user","n":`) {
					errs <- errors.New("unexpected output " + string(out))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkJSONExecute(b *testing.B) {
	j := mustParseJSON(b, `{"aud":["orders"],"email":{{ jsonQuote .Extra.email }},"sub":"{{ .Subject }}"}`)
	s := &pipeline.Session{Subject: "alice", Extra: map[string]any{"email": "alice@example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.Execute(s); err != nil {
			b.Fatal(err)
		}
	}
}

func mustParseJSON(tb testing.TB, text string) *JSON {
	tb.Helper()
	j, err := ParseJSON("p", text)
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

// TestDuplicateMembersAtEverySize: a duplicate member is found in small
// objects (names compared one by one) and large ones (a map), at every
// position, at every depth, and after nested objects that reuse the
// names; names in different objects never clash.
func TestDuplicateMembersAtEverySize(t *testing.T) {
	object := func(n int, dupAt int, prefix string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(",")
			}
			name := fmt.Sprintf("k%d", i)
			if i == dupAt {
				name = fmt.Sprintf("%s0", prefix) // prefix "k" or an escaped "k"
			}
			fmt.Fprintf(&b, `"%s":{"%s":1,"x":[{"x":2}]}`, name, name)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, n := range []int{1, 2, smallObject - 1, smallObject, smallObject + 1, smallObject + 2, 3 * smallObject} {
		for dupAt := 1; dupAt <= n; dupAt++ { // dupAt == n: no duplicate
			for _, wrap := range []string{"%s", `{"a":1,"v":%s,"b":2}`, `[[%s]]`} {
				for _, prefix := range []string{"k", `\u006b`} {
					text := fmt.Sprintf(wrap, object(n, dupAt, prefix))
					err := checkStructure([]byte(text), spans{{0, len(text)}})
					if (err != nil) != (dupAt < n) {
						t.Fatalf("%d members, duplicate at %d, in %.40q…: %v", n, dupAt, text, err)
					}
				}
			}
		}
	}
	// Names the nested objects and the large object's map held do not
	// clash with the enclosing object's later ones.
	for _, text := range []string{
		`{"a":` + object(3*smallObject, -1, "k") + `,"k0":1,"k1":2}`,
		`{"x":{"y":1},"y":{"x":1},"z":{"x":{"x":1}}}`,
	} {
		if err := checkStructure([]byte(text), spans{{0, len(text)}}); err != nil {
			t.Errorf("%.60q…: %v", text, err)
		}
	}
}
