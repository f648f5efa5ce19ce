package envoyresp

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func build(cfg map[string]any) (pipeline.Mutator, error) {
	var c Config
	if err := pipeline.MapDecoder(cfg).Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return New(c)
}

func mustBuild(t *testing.T, cfg map[string]any) pipeline.Mutator {
	t.Helper()
	m, err := build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func alice() *pipeline.Session {
	return &pipeline.Session{
		Subject: "alice",
		Extra: map[string]any{
			"tenant": "acme", "groups": []any{"a", "b"}, "level": 3.0,
			"org": map[string]any{"id": "o1"}, "name": "Alice\nLiddell",
		},
		Header: pipeline.Header{"authorization": {"Bearer minted"}},
	}
}

// sessionMutations is the part of the Session this mutator writes.
type sessionMutations struct {
	RemoveHeaders  []string
	ResponseHeader pipeline.Header
	SetQuery       map[string]string
	RemoveQuery    []string
	Metadata       map[string]any
	Header         pipeline.Header
}

func mutationsOf(s *pipeline.Session) sessionMutations {
	return sessionMutations{s.RemoveHeaders, s.ResponseHeader, s.SetQuery, s.RemoveQuery, s.Metadata, s.Header}
}

func TestMutateRecordsEachMutation(t *testing.T) {
	minted := pipeline.Header{"authorization": {"Bearer minted"}}
	tests := []struct {
		name   string
		cfg    map[string]any
		before func(*pipeline.Session)
		want   sessionMutations
	}{
		{name: "remove lower-cases names", cfg: map[string]any{"remove": []any{"X-Api-Key", "x-debug"}},
			want: sessionMutations{RemoveHeaders: []string{"x-api-key", "x-debug"}, Header: minted}},
		{name: "remove keeps earlier removals without duplicates", cfg: map[string]any{"remove": []any{"x-api-key"}},
			before: func(s *pipeline.Session) { s.RemoveHeaders = []string{"x-api-key", "x-old"} },
			want:   sessionMutations{RemoveHeaders: []string{"x-api-key", "x-old"}, Header: minted}},
		{name: "C-12 strip_credentials only adds removals", cfg: map[string]any{"strip_credentials": true, "remove": []any{"Authorization"}},
			want: sessionMutations{RemoveHeaders: []string{"authorization", "cookie", "proxy-authorization"}, Header: minted}},
		{name: "response_headers render over the session", cfg: map[string]any{"response_headers": map[string]any{"X-Subject": "{{ .Subject }}", "x-tenant": "{{ .Extra.tenant }}"}},
			want: sessionMutations{ResponseHeader: pipeline.Header{"x-subject": {"alice"}, "x-tenant": {"acme"}}, Header: minted}},
		{name: "response_headers overwrite an earlier value", cfg: map[string]any{"response_headers": map[string]any{"x-a": "new"}},
			before: func(s *pipeline.Session) {
				s.ResponseHeader = pipeline.Header{"x-a": {"old", "older"}, "x-b": {"kept"}}
			},
			want: sessionMutations{ResponseHeader: pipeline.Header{"x-a": {"new"}, "x-b": {"kept"}}, Header: minted}},
		{name: "query_set and query_remove", cfg: map[string]any{"query_set": map[string]any{"tenant": "{{ .Extra.tenant }}", "q": "a&b=c #x+y/é"}, "query_remove": []any{"access_token", "Debug"}},
			want: sessionMutations{SetQuery: map[string]string{"tenant": "acme", "q": "a%26b%3Dc%20%23x%2By%2F%C3%A9"}, RemoveQuery: []string{"access_token", "Debug"}, Header: minted}},
		{name: "metadata strings and claims as-is", cfg: map[string]any{"metadata": map[string]any{"tenant": "{{ .Extra.tenant }}"}, "metadata_claims": []any{"groups", "level", "org", "name", "absent"}},
			want: sessionMutations{Metadata: map[string]any{"tenant": "acme", "groups": []any{"a", "b"}, "level": 3.0, "org": map[string]any{"id": "o1"}, "name": "Alice\nLiddell"}, Header: minted}},
		{name: "empty config changes nothing", cfg: map[string]any{}, want: sessionMutations{Header: minted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := alice()
			if tt.before != nil {
				tt.before(s)
			}
			if err := mustBuild(t, tt.cfg).Mutate(context.Background(), &pipeline.Request{}, s); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, mutationsOf(s)); diff != "" {
				t.Fatalf("session (-want +got):\n%s", diff)
			}
		})
	}
}

// TestC05ControlCharactersFailClosed follows SECURITY_CASES C-05: claims
// with CR, LF, NUL or DEL never reach a header, query or metadata value.
func TestC05ControlCharactersFailClosed(t *testing.T) {
	for _, sub := range []string{"alice\r\nX-Admin: true", "a\nb", "a\x00b", "\x7f", "a\rb", "invalid utf-8 \xff"} {
		for _, section := range []string{"response_headers", "query_set", "metadata"} {
			t.Run(section+" "+strings.ToValidUTF8(sub, "?"), func(t *testing.T) {
				m := mustBuild(t, map[string]any{section: map[string]any{"x-user": "{{ .Subject }}"}, "remove": []any{"x-y"}})
				s := &pipeline.Session{Subject: sub}
				err := m.Mutate(context.Background(), &pipeline.Request{}, s)
				if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != "mutation_value_invalid" {
					t.Fatalf("err = %v, want mutation_value_invalid", err)
				}
				if strings.Contains(err.Error(), sub) {
					t.Fatalf("error reflects the value: %q", err)
				}
				if diff := cmp.Diff(sessionMutations{}, mutationsOf(s)); diff != "" {
					t.Fatalf("failed mutation touched the session:\n%s", diff)
				}
			})
		}
	}
	t.Run("tab is allowed", func(t *testing.T) {
		s := &pipeline.Session{Subject: "a\tb"}
		if err := mustBuild(t, map[string]any{"response_headers": map[string]any{"x-user": "{{ .Subject }}"}}).Mutate(context.Background(), nil, s); err != nil {
			t.Fatal(err)
		}
	})
}

// TestC15OversizedOutputFailsClosed follows SECURITY_CASES C-15.
func TestC15OversizedOutputFailsClosed(t *testing.T) {
	groups := make([]any, 5000)
	for i := range groups {
		groups[i] = "group-" + strings.Repeat("x", 4)
	}
	big := &pipeline.Session{Extra: map[string]any{"groups": groups, "blob": strings.Repeat("b", 16<<10)}}
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{name: "joined groups over the default cap", cfg: map[string]any{"response_headers": map[string]any{"x-groups": `{{ join "," .Extra.groups }}`}}, wantErr: "mutation_value_too_large"},
		{name: "16 KiB string over the default cap", cfg: map[string]any{"query_set": map[string]any{"b": `{{ .Extra.blob }}`}}, wantErr: "mutation_value_too_large"},
		{name: "claim copied to metadata is capped by its JSON size", cfg: map[string]any{"metadata_claims": []any{"groups"}}, wantErr: "mutation_value_too_large"},
		{name: "string claim is capped by its length", cfg: map[string]any{"metadata_claims": []any{"blob"}}, wantErr: "mutation_value_too_large"},
		{name: "max_value_bytes raises the cap", cfg: map[string]any{"max_value_bytes": 64 << 10, "metadata_claims": []any{"groups", "blob"}}},
		{name: "query value is capped after encoding", cfg: map[string]any{"max_value_bytes": 5, "query_set": map[string]any{"q": "&&"}}, wantErr: "mutation_value_too_large"},
		{name: "max_value_bytes lowers the cap", cfg: map[string]any{"max_value_bytes": 3, "metadata": map[string]any{"s": "four"}}, wantErr: "mutation_value_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustBuild(t, tt.cfg).Mutate(context.Background(), &pipeline.Request{}, big)
			if got := pipeline.ReasonOf(err, ""); got != tt.wantErr {
				t.Fatalf("err = %v, want reason %q", err, tt.wantErr)
			}
		})
	}
}

func TestMutateTemplateFailure(t *testing.T) {
	err := mustBuild(t, map[string]any{"metadata": map[string]any{"k": `{{ fail "x" }}`}}).Mutate(context.Background(), nil, alice())
	if pipeline.ReasonOf(err, "") != "mutation_template_failed" {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{name: "remove pseudo-header", cfg: map[string]any{"remove": []any{":path"}}, wantErr: `remove[0]: header ":path" cannot be removed: it is a pseudo-header`},
		{name: "remove host", cfg: map[string]any{"remove": []any{"x", "Host"}}, wantErr: `remove[1]: header "Host" cannot be removed`},
		{name: "remove hop-by-hop", cfg: map[string]any{"remove": []any{"Connection"}}, wantErr: `remove[0]: header "Connection" cannot be removed: it is hop-by-hop`},
		{name: "remove invalid name", cfg: map[string]any{"remove": []any{"x y"}}, wantErr: `remove[0]: invalid header name "x y"`},
		{name: "response header with CRLF in the name", cfg: map[string]any{"response_headers": map[string]any{"x\r\ny": "v"}}, wantErr: "response_headers: invalid header name"},
		{name: "response header transfer-encoding", cfg: map[string]any{"response_headers": map[string]any{"Transfer-Encoding": "v"}}, wantErr: `response_headers: header "Transfer-Encoding" cannot be set`},
		{name: "response header content-length", cfg: map[string]any{"response_headers": map[string]any{"Content-Length": "0"}}, wantErr: `response_headers: header "Content-Length" cannot be set: it frames the message body`},
		{name: "response header connection", cfg: map[string]any{"response_headers": map[string]any{"connection": "close"}}, wantErr: `response_headers: header "connection" cannot be set: it is hop-by-hop`},
		{name: "response header x-envoy", cfg: map[string]any{"response_headers": map[string]any{"x-envoy-degraded": "1"}}, wantErr: `response_headers: header "x-envoy-degraded" cannot be set: Envoy-internal headers`},
		{name: "response header x-envoy not listed", cfg: map[string]any{"response_headers": map[string]any{"x-envoy-degraded": "1"}, "allow_envoy_headers": []any{"x-envoy-ratelimited"}}, wantErr: `header "x-envoy-degraded" cannot be set`},
		{name: "response header host", cfg: map[string]any{"response_headers": map[string]any{"Host": "a"}}, wantErr: `response_headers: header "Host" cannot be set: it is a request header`},
		{name: "response header pseudo", cfg: map[string]any{"response_headers": map[string]any{":status": "200"}}, wantErr: `response_headers: header ":status" cannot be set: it is a pseudo-header`},
		{name: "allow_envoy_headers entry not x-envoy", cfg: map[string]any{"allow_envoy_headers": []any{"x-request-id"}}, wantErr: `allow_envoy_headers[0]: "x-request-id" is not an x-envoy-* header name`},
		{name: "response header twice in different case", cfg: map[string]any{"response_headers": map[string]any{"X-A": "1", "x-a": "2"}}, wantErr: "is set twice"},
		{name: "response header bad template", cfg: map[string]any{"response_headers": map[string]any{"x-a": "{{"}}, wantErr: "response_headers.x-a: parse template"},
		{name: "query_set empty name", cfg: map[string]any{"query_set": map[string]any{"": "v"}}, wantErr: "query_set: empty parameter name"},
		{name: "query_set bad template", cfg: map[string]any{"query_set": map[string]any{"a": "{{ .Nope "}}, wantErr: "query_set.a: parse template"},
		{name: "query_remove control character", cfg: map[string]any{"query_remove": []any{"a\nb"}}, wantErr: "query_remove[0]: parameter name"},
		{name: "query_set name needing encoding", cfg: map[string]any{"query_set": map[string]any{"a&b": "v"}}, wantErr: `query_set: parameter name "a&b": only letters`},
		{name: "query_remove name needing encoding", cfg: map[string]any{"query_remove": []any{"ids[]"}}, wantErr: `query_remove[0]: parameter name "ids[]"`},
		{name: "metadata key the front door writes", cfg: map[string]any{"metadata": map[string]any{"decision": "allow"}}, wantErr: `metadata: key "decision" is reserved`},
		{name: "metadata reserved key", cfg: map[string]any{"metadata": map[string]any{"rule_id": "x"}}, wantErr: `metadata: key "rule_id" is reserved`},
		{name: "metadata bad template", cfg: map[string]any{"metadata": map[string]any{"k": "{{ end }}"}}, wantErr: "metadata.k: parse template"},
		{name: "metadata_claims reserved key", cfg: map[string]any{"metadata_claims": []any{"subject"}}, wantErr: `metadata_claims[0]: key "subject" is reserved`},
		{name: "metadata_claims empty", cfg: map[string]any{"metadata_claims": []any{""}}, wantErr: "metadata_claims[0]: empty key"},
		{name: "metadata_claims collides with metadata", cfg: map[string]any{"metadata": map[string]any{"t": "x"}, "metadata_claims": []any{"t"}}, wantErr: `metadata_claims[0]: "t" is also a metadata key`},
		{name: "negative max_value_bytes", cfg: map[string]any{"max_value_bytes": -1}, wantErr: "max_value_bytes: -1 is outside"},
		{name: "huge max_value_bytes", cfg: map[string]any{"max_value_bytes": 1 << 30}, wantErr: "max_value_bytes"},
		{name: "strip_credentials must be a bool", cfg: map[string]any{"strip_credentials": "yes"}, wantErr: "strip_credentials"},
		{name: "unknown key", cfg: map[string]any{"headers": map[string]any{}}, wantErr: `unknown field "headers"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// Issue #8 item 6: an x-envoy-* response header loads only when
// allow_envoy_headers lists it; removing one upstream needs no listing.
func TestAllowEnvoyHeaders(t *testing.T) {
	m := mustBuild(t, map[string]any{
		"response_headers":    map[string]any{"X-Envoy-Ratelimited": "true"},
		"allow_envoy_headers": []any{"x-envoy-ratelimited"},
		"remove":              []any{"x-envoy-original-path"},
	})
	s := alice()
	if err := m.Mutate(context.Background(), nil, s); err != nil {
		t.Fatal(err)
	}
	if got := s.ResponseHeader.Get("x-envoy-ratelimited"); got != "true" {
		t.Errorf("x-envoy-ratelimited = %q", got)
	}
	if !slices.Contains(s.RemoveHeaders, "x-envoy-original-path") {
		t.Errorf("remove = %q", s.RemoveHeaders)
	}
}
