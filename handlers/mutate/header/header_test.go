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
		{"headers missing", Config{}, "headers: required"},
		{"bad name", Config{Headers: map[string]string{"X User": "x"}}, `headers: invalid header name "X User"`},
		{"pseudo", Config{Headers: map[string]string{":path": "x"}}, `headers: header ":path" cannot be set: it is a pseudo-header`},
		{"same header twice", Config{Headers: map[string]string{"X-User": "a", "x-user": "b"}}, `headers: "X-User" and "x-user" name the same header`},
		{"host twice", Config{Headers: map[string]string{"Host": "a", "host": "b"}}, `"Host" and "host" name the same header`},
		{"x-envoy allow-list entry", Config{Headers: map[string]string{}, AllowEnvoyHeaders: []string{"x-forwarded-for"}}, `allow_envoy_headers[0]: "x-forwarded-for" is not an x-envoy-* header name`},
		{"negative cap", Config{Headers: map[string]string{}, MaxValueBytes: -1}, "max_value_bytes: must not be negative"},
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

// Issue #8 item 6: hop-by-hop, framing, pseudo- and Envoy-internal headers
// are refused when the rule loads, naming the header; before, only
// invalid names and Host were.
func TestForbiddenHeadersAreRefusedAtLoad(t *testing.T) {
	for _, name := range []string{"Connection", "transfer-encoding", "Content-Length", "TE", "Upgrade", "Keep-Alive",
		"Proxy-Connection", "Trailer", "X-Envoy-Original-Path", "x-envoy-upstream-rq-timeout-ms", ":authority", ":path"} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{Headers: map[string]string{"X-User": "{{ .Subject }}", name: "v"}})
			if err == nil || !strings.Contains(err.Error(), `header "`+name+`" cannot be set`) {
				t.Fatalf("err = %v, want it to refuse %q by name", err, name)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
	t.Run("every bad name is reported", func(t *testing.T) {
		_, err := New(Config{Headers: map[string]string{"Connection": "a", "Content-Length": "b"}})
		if err == nil || !strings.Contains(err.Error(), `"Connection"`) || !strings.Contains(err.Error(), `"Content-Length"`) {
			t.Fatalf("err = %v", err)
		}
	})
}

// allow_envoy_headers lets a rule set exactly the x-envoy-* headers it
// lists, in any case, and no other.
func TestAllowEnvoyHeaders(t *testing.T) {
	m, err := New(Config{Headers: map[string]string{"X-Envoy-Retry-On": "5xx"}, AllowEnvoyHeaders: []string{"x-envoy-retry-on"}})
	if err != nil {
		t.Fatal(err)
	}
	s := &pipeline.Session{}
	if err := m.Mutate(context.Background(), &pipeline.Request{}, s); err != nil {
		t.Fatal(err)
	}
	if got := s.Header.Get("x-envoy-retry-on"); got != "5xx" {
		t.Fatalf("x-envoy-retry-on = %q", got)
	}
	_, err = New(Config{Headers: map[string]string{"X-Envoy-Original-Path": "/x"}, AllowEnvoyHeaders: []string{"x-envoy-retry-on"}})
	if err == nil || !strings.Contains(err.Error(), `header "X-Envoy-Original-Path" cannot be set`) {
		t.Fatalf("err = %v, want the unlisted x-envoy header refused", err)
	}
}

// Issue #10 item 6: headers: {} is valid, as in Oathkeeper, and sets
// nothing.
func TestEmptyHeadersIsValid(t *testing.T) {
	var c Config
	if err := pipeline.MapDecoder(map[string]any{"headers": map[string]any{}}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	m, err := New(c)
	if err != nil {
		t.Fatalf("headers: {} refused: %v", err)
	}
	s := &pipeline.Session{Subject: "alice"}
	if err := m.Mutate(context.Background(), &pipeline.Request{}, s); err != nil {
		t.Fatal(err)
	}
	if len(s.Header) != 0 {
		t.Fatalf("headers set: %v", s.Header)
	}
}

// Issue #10 item 9: Host loads with one warning naming the Envoy setting,
// and is never set; the other headers of the rule still are.
func TestHostIsDroppedWithAWarning(t *testing.T) {
	m, err := New(Config{Headers: map[string]string{"Host": "{{ .Extra.tenant }}.internal", "X-User": "{{ .Subject }}"}})
	if err != nil {
		t.Fatalf("Host refused: %v", err)
	}
	w := m.(pipeline.Warner).Warnings()
	if len(w) != 1 || !strings.HasPrefix(w[0], "headers.Host is dropped") || !strings.Contains(w[0], "host_rewrite_literal") {
		t.Fatalf("warnings = %q, want one naming headers.Host and host_rewrite_literal", w)
	}
	s := &pipeline.Session{Subject: "alice", Extra: map[string]any{"tenant": "acme"}}
	if err := m.Mutate(context.Background(), &pipeline.Request{}, s); err != nil {
		t.Fatal(err)
	}
	if s.Header.Get("host") != "" || s.Header.Get("x-user") != "alice" {
		t.Fatalf("header = %v, want x-user only", s.Header)
	}
	if _, err := New(Config{Headers: map[string]string{"host": "{{ .Subject "}}); err == nil {
		t.Fatal("a broken Host template loaded")
	}
	quiet, _ := New(Config{Headers: map[string]string{"X-User": "x"}})
	if w := quiet.(pipeline.Warner).Warnings(); len(w) != 0 {
		t.Fatalf("warnings without Host: %q", w)
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
