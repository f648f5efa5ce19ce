package header

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func TestMutateRendersTemplates(t *testing.T) {
	m, err := New(Config{Headers: map[string]string{
		"X-User":   "{{ print .Subject }}",
		"X-Group":  "{{ print .Extra.group }}",
		"X-Id":     "{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}",
		"X-Static": "v1",
		"X-Query":  `{{ .MatchContext.URL.Query.Get "q" }}`,
		"X-Orig":   `{{ .MatchContext.Header.Get "X-Trace" }}`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Session{Subject: "alice", Extra: map[string]any{"group": "admins"}, MatchContext: pipeline.MatchContext{
		RegexpCaptureGroups: []string{"42"},
		URL:                 &url.URL{Path: "/u/42", RawQuery: "q=hello"},
		Header:              pipeline.Header{"x-trace": {"t1"}},
	}}
	s.SetHeader("x-user", "client-sent")
	if err := m.Mutate(context.Background(), &pipeline.Request{}, s); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"x-user": "alice", "x-group": "admins", "x-id": "42", "x-static": "v1", "x-query": "hello", "x-orig": "t1"}
	for k, v := range want {
		if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want exactly [%q]", k, got, v)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"empty", Config{}, "headers: must not be empty"},
		{"bad name", Config{Headers: map[string]string{"X User": "x"}}, "headers.X User: invalid character"},
		{"host", Config{Headers: map[string]string{"Host": "x"}}, "host header cannot be set"},
		{"pseudo", Config{Headers: map[string]string{":path": "x"}}, "invalid character"},
		{"template names header", Config{Headers: map[string]string{"X-User": "{{ .Subject "}}, "headers.X-User: parse template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// SECURITY_CASES C-05 and C-15: claims that would split or bloat a header
// fail the request instead of reaching the proxy.
func TestUnsafeValuesFailClosed(t *testing.T) {
	m, err := New(Config{Headers: map[string]string{"X-User": "{{ .Subject }}"}, MaxValueBytes: 64})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"alice\r\nX-Admin: true", "a\nb", "a\x00b", "\x7f", "a\x1bb", strings.Repeat("g", 65)} {
		s := &pipeline.Session{Subject: sub}
		err := m.Mutate(context.Background(), &pipeline.Request{}, s)
		if !errors.Is(err, pipeline.ErrInternal) {
			t.Errorf("subject %q: err = %v, want internal error", sub, err)
		}
		if s.Header.Get("x-user") != "" {
			t.Errorf("subject %q reached the header", sub)
		}
	}
}

func BenchmarkMutate(b *testing.B) {
	m, _ := New(Config{Headers: map[string]string{"X-User": "{{ print .Subject }}"}})
	s := &pipeline.Session{Subject: "alice", Header: pipeline.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Mutate(context.Background(), nil, s); err != nil {
			b.Fatal(err)
		}
	}
}
