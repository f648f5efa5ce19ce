package tmpl

import (
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// BenchmarkExecuteHeaderForms measures the header templates rules use
// most, over a session as the JWT authenticator leaves it.
func BenchmarkExecuteHeaderForms(b *testing.B) {
	s := &pipeline.Session{
		Subject: "alice",
		Extra: map[string]any{
			"tenant": "acme", "org": map[string]any{"id": "o-1"}, "level": 3.0,
		},
		MatchContext: pipeline.MatchContext{
			RegexpCaptureGroups: []string{"42"},
			Header:              pipeline.Header{"x-request-id": {"r-1"}},
		},
	}
	for _, bc := range []struct{ name, text string }{
		{"print_extra_tenant", "{{ print .Extra.tenant }}"},
		{"extra_tenant", "{{ .Extra.tenant }}"},
		{"extra_nested", "{{ .Extra.org.id }}"},
		{"extra_number", "{{ .Extra.level }}"},
		{"text_around", "tenant={{ print .Extra.tenant }};sub={{ .Subject }}"},
		{"header_get", `{{ .MatchContext.Header.Get "x-request-id" }}`},
		{"print_index", "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp := MustParse("h", bc.text)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tp.Execute(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
