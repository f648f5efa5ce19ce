package tmpl

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/Masterminds/sprig/v3"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestUnavailableFunctionsFailToParse: a template calling a removed
// function does not load, wherever the call is, and the error names the
// template, the function and why; JSON templates likewise.
func TestUnavailableFunctionsFailToParse(t *testing.T) {
	names := Unavailable()
	if len(names) == 0 {
		t.Fatal("no removed functions")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			for _, text := range []string{
				"{{ " + name + " }}",
				`x{{ if true }}{{ ` + name + ` "a" }}{{ end }}`,
				`{{ .Subject | ` + name + ` }}`,
				`{{ print (` + name + ` "a") }}`,
				`{{ define "inner" }}{{ ` + name + ` }}{{ end }}{{ template "inner" . }}`,
			} {
				_, err := Parse("claims", text)
				if err == nil {
					t.Fatalf("%s: parsed", text)
				}
				for _, want := range []string{"claims", `"` + name + `"`, removed[name]} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s: error %q does not name %q", text, err, want)
					}
				}
			}
			if _, err := ParseJSON("payload", `{"a": "{{ `+name+` "x" }}"}`); err == nil || !strings.Contains(err.Error(), `"`+name+`"`) {
				t.Errorf("ParseJSON error = %v", err)
			}
		})
	}
}

// TestEnvIsNotReadable is the regression test of the issue: env and
// expandenv used to render the process environment into upstream headers.
func TestEnvIsNotReadable(t *testing.T) {
	t.Setenv("PORTCULLIS_TMPL_SECRET", "s3cr3t")
	for _, text := range []string{`{{ env "PORTCULLIS_TMPL_SECRET" }}`, `{{ expandenv "$PORTCULLIS_TMPL_SECRET" }}`} {
		tp, err := Parse("headers.X-Secret", text)
		if err == nil {
			out, _ := tp.Execute(&pipeline.Session{})
			t.Fatalf("%s loaded and renders %q", text, out)
		}
		if !strings.Contains(err.Error(), "environment") || strings.Contains(err.Error(), os.Getenv("PORTCULLIS_TMPL_SECRET")) {
			t.Errorf("error = %v", err)
		}
	}
}

// TestFuncMapIsHermetic pins the function set: every function comes from
// sprig's hermetic map or is one of ours, everything sprig itself calls
// non-hermetic is removed, and every removed name still exists in sprig
// (so the list cannot silently go stale on an upgrade).
func TestFuncMapIsHermetic(t *testing.T) {
	all, hermetic, ours := sprig.TxtFuncMap(), sprig.HermeticTxtFuncMap(), map[string]bool{"print": true, "printIndex": true, "jsonQuote": true}
	for name := range Funcs() {
		if _, ok := hermetic[name]; !ok && !ours[name] {
			t.Errorf("%s is neither hermetic sprig nor ours", name)
		}
		if _, bad := removed[name]; bad {
			t.Errorf("%s is removed but in Funcs", name)
		}
	}
	for name := range all {
		if _, ok := hermetic[name]; !ok {
			if _, gone := removed[name]; !gone {
				t.Errorf("sprig calls %s non-hermetic but it is not removed", name)
			}
		}
	}
	for name := range removed {
		if _, ok := all[name]; !ok {
			t.Errorf("removed %s is not a sprig function", name)
		}
	}
	for _, name := range []string{"env", "expandenv", "getHostByName", "now", "randAlpha", "uuidv4", "genPrivateKey", "set"} {
		if _, ok := Funcs()[name]; ok {
			t.Errorf("%s is available", name)
		}
	}
}

// TestBoundedFunctions: counts from the data cannot make a rendering
// allocate without bound; within the limits the results are sprig's.
func TestBoundedFunctions(t *testing.T) {
	big := map[string]any{"n": MaxOutputBytes + 1, "seq": MaxSequenceLength * 2, "neg": -1,
		"kib": strings.Repeat("k", 1024), "huge": int(^uint(0) >> 1)}
	tests := []struct {
		name, text, want string
		fails            bool
	}{
		{name: "repeat within the limit", text: `{{ repeat 3 "ab" }}`, want: "ababab"},
		{name: "repeat beyond the limit", text: `{{ repeat .n "ab" }}`, fails: true},
		{name: "repeat with the largest int", text: `{{ repeat .huge "a" }}`, fails: true},
		{name: "repeat negative", text: `{{ repeat .neg "a" }}`, fails: true},
		{name: "indent within the limit", text: `{{ indent 2 "a\nb" }}`, want: "  a\n  b"},
		{name: "nindent within the limit", text: `{{ nindent 1 "a" }}`, want: "\n a"},
		{name: "indent beyond the limit", text: `{{ indent .n "a" }}`, fails: true},
		{name: "nindent beyond the limit", text: `{{ nindent .huge "a" }}`, fails: true},
		{name: "until within the limit", text: `{{ until 3 }}`, want: "[0 1 2]"},
		{name: "until beyond the limit", text: `{{ range until .seq }}{{ end }}`, fails: true},
		{name: "until with the largest int", text: `{{ until .huge }}`, fails: true},
		{name: "untilStep within the limit", text: `{{ untilStep 0 10 5 }}`, want: "[0 5]"},
		{name: "untilStep beyond the limit", text: `{{ untilStep 0 .huge 1 }}`, fails: true},
		{name: "untilStep zero step is empty", text: `{{ untilStep 0 .huge 0 }}`, want: "[]"},
		{name: "seq within the limit", text: `{{ seq 1 2 5 }}`, want: "1 3 5"},
		{name: "seq one argument beyond the limit", text: `{{ seq .seq }}`, fails: true},
		{name: "seq three arguments beyond the limit", text: `{{ seq 0 1 .huge }}`, fails: true},
		{name: "output beyond the limit", text: `{{ range until 2000 }}{{ $.kib }}{{ end }}`, fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MustParse("t", tt.text).Execute(big)
			if tt.fails {
				if err == nil {
					t.Fatalf("rendered %d bytes, want an error", len(got))
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := MustParse("t", `{{ range until 2000 }}{{ $.kib }}{{ end }}`).Execute(big); !errors.Is(err, errTooLong) {
		t.Errorf("output limit error = %v", err)
	}
}

// TestKeysAndValuesAreInKeyOrder: sprig returns them in map order, which
// would make renderings (and id_token cache keys) differ run to run.
func TestKeysAndValuesAreInKeyOrder(t *testing.T) {
	m := map[string]any{}
	for _, k := range strings.Split("q w e r t y u i o p a s d f g h j k l", " ") {
		m[k] = k
	}
	data := map[string]any{"m": m, "o": map[string]any{"zz": 1}}
	want := "a d e f g h i j k l o p q r s t u w y"
	for range 20 {
		for _, text := range []string{`{{ keys .m | join " " }}`, `{{ values .m | join " " }}`} {
			if got, err := MustParse("k", text).Execute(data); err != nil || got != want {
				t.Fatalf("%s = %q, %v", text, got, err)
			}
		}
	}
	if got, _ := MustParse("k", `{{ keys .o .m | join "" }}`).Execute(data); got != strings.ReplaceAll(want, " ", "")+"zz" {
		t.Errorf("keys of two dicts = %q", got)
	}
}
