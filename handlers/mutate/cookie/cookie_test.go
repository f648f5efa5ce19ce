package cookie

import (
	"context"
	"strings"
	"testing"

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

func mustBuild(t testing.TB, cookies map[string]any) pipeline.Mutator {
	t.Helper()
	m, err := build(map[string]any{"cookies": cookies})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMutateBuildsOneCookieHeader(t *testing.T) {
	tests := []struct {
		name    string
		cookies map[string]any
		client  []string
		session *pipeline.Session
		want    string
	}{
		{name: "rule cookies sorted then client cookies in order", cookies: map[string]any{"user": "{{ .Subject }}", "static": "v"},
			client: []string{"a=1; user=admin; b=2"}, want: "static=v; user=alice; a=1; b=2"},
		{name: "without client cookies", cookies: map[string]any{"user": "{{ .Subject }}"}, want: "user=alice"},
		{name: "empty rule keeps the client cookies", cookies: map[string]any{}, client: []string{"a=1"}, want: "a=1"},
		{name: "extra and captures are available", cookies: map[string]any{"tenant": "{{ .Extra.tenant }}", "id": `{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}`},
			session: &pipeline.Session{Subject: "alice", Extra: map[string]any{"tenant": "acme"}, MatchContext: pipeline.MatchContext{RegexpCaptureGroups: []string{"42"}}},
			want:    "id=42; tenant=acme"},
		{name: "empty rendered value is allowed", cookies: map[string]any{"flag": "{{ print .Extra.none }}"}, want: "flag="},
		{name: "quoted value is allowed", cookies: map[string]any{"q": `"abc"`}, want: `q="abc"`},
		{name: "split cookie lines are all kept", cookies: map[string]any{"user": "x"}, client: []string{"a=1", "b=2; user=y"}, want: "user=x; a=1; b=2"},
		{name: "malformed client pairs are dropped", cookies: map[string]any{"user": "x"}, client: []string{"novalue; =anon; bad name=1; ok=\"q v\";;  c=3 ; u=\xff; n=a\x00b"},
			want: `user=x; ok="q v"; c=3`},
		{name: "earlier mutator's cookie header is the base", cookies: map[string]any{"b": "2"},
			session: &pipeline.Session{Subject: "alice", Header: pipeline.Header{"cookie": {"a=1; b=old"}}}, client: []string{"ignored=1"}, want: "b=2; a=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.session
			if s == nil {
				s = &pipeline.Session{Subject: "alice"}
			}
			r := &pipeline.Request{Header: pipeline.Header{}}
			if tt.client != nil {
				r.Header["cookie"] = tt.client
			}
			if err := mustBuild(t, tt.cookies).Mutate(context.Background(), r, s); err != nil {
				t.Fatal(err)
			}
			if got := s.Header.Values("cookie"); len(got) != 1 || got[0] != tt.want {
				t.Fatalf("cookie = %q, want [%q]", got, tt.want)
			}
		})
	}
}

// TestC10CookieInjectionAndDuplicates follows SECURITY_CASES C-10.
func TestC10CookieInjectionAndDuplicates(t *testing.T) {
	m := mustBuild(t, map[string]any{"user": "{{ .Subject }}"})
	t.Run("client copies of the rule cookie are removed in any case", func(t *testing.T) {
		s := &pipeline.Session{Subject: "alice"}
		r := &pipeline.Request{Header: pipeline.Header{"cookie": {"user=admin; role=admin; USER=root; User=x"}}}
		if err := m.Mutate(context.Background(), r, s); err != nil {
			t.Fatal(err)
		}
		if got := s.Header.Get("cookie"); got != "user=alice; role=admin" {
			t.Fatalf("cookie = %q", got)
		}
	})
	for _, subject := range []string{"alice; role=admin", "alice, role=admin", `alice"`, "alice bob", "a\r\nX-Admin: 1", "a\x00b", "\x7f", "bäcker", `a\b`, `"a"b"`} {
		t.Run("subject "+strings.ToValidUTF8(subject, "?")+" fails closed", func(t *testing.T) {
			s := &pipeline.Session{Subject: subject}
			r := &pipeline.Request{Header: pipeline.Header{"cookie": {"user=admin; role=admin"}}}
			err := m.Mutate(context.Background(), r, s)
			if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != "cookie_value_invalid" {
				t.Fatalf("err = %v, want cookie_value_invalid", err)
			}
			if s.Header != nil {
				t.Fatalf("session header was set on failure: %v", s.Header)
			}
			if strings.Contains(err.Error(), subject) {
				t.Fatalf("error reflects the value: %v", err)
			}
		})
	}
}

func TestMutateFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		cookies map[string]any
		s       *pipeline.Session
		want    string
	}{
		{name: "C-15 oversized value", cookies: map[string]any{"g": "{{ .Extra.groups }}"},
			s: &pipeline.Session{Extra: map[string]any{"groups": strings.Repeat("g", MaxValueBytes+1)}}, want: "cookie_value_too_large"},
		{name: "missing extra renders <no value> which is not a cookie-value", cookies: map[string]any{"g": "{{ .Extra.none }}"},
			s: &pipeline.Session{}, want: "cookie_value_invalid"},
		{name: "template failure", cookies: map[string]any{"g": `{{ fail "nope" }}`}, s: &pipeline.Session{}, want: "cookie_template_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustBuild(t, tt.cookies).Mutate(context.Background(), &pipeline.Request{}, tt.s)
			if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != tt.want {
				t.Fatalf("err = %v, want %s", err, tt.want)
			}
		})
	}
	t.Run("value at the limit passes", func(t *testing.T) {
		s := &pipeline.Session{Extra: map[string]any{"groups": strings.Repeat("g", MaxValueBytes)}}
		if err := mustBuild(t, map[string]any{"g": "{{ .Extra.groups }}"}).Mutate(context.Background(), &pipeline.Request{}, s); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{name: "cookies present", cfg: map[string]any{"cookies": map[string]any{"a": "b"}}},
		{name: "empty cookies", cfg: map[string]any{"cookies": map[string]any{}}},
		{name: "cookies missing", cfg: map[string]any{}, wantErr: "cookies: required"},
		{name: "name with space", cfg: map[string]any{"cookies": map[string]any{"a b": "x"}}, wantErr: `cookies: invalid cookie name "a b"`},
		{name: "name with semicolon", cfg: map[string]any{"cookies": map[string]any{"a;b": "x"}}, wantErr: `invalid cookie name "a;b"`},
		{name: "name with equals", cfg: map[string]any{"cookies": map[string]any{"a=b": "x"}}, wantErr: `invalid cookie name "a=b"`},
		{name: "empty name", cfg: map[string]any{"cookies": map[string]any{"": "x"}}, wantErr: `invalid cookie name ""`},
		{name: "bad template", cfg: map[string]any{"cookies": map[string]any{"a": "{{ .Subject "}}, wantErr: "cookies.a: parse template"},
		{name: "value must be a string", cfg: map[string]any{"cookies": map[string]any{"a": 1}}, wantErr: "cookies"},
		{name: "unknown key", cfg: map[string]any{"cookies": map[string]any{}, "cookie": map[string]any{}}, wantErr: `unknown field "cookie"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkMutate(b *testing.B) {
	m := mustBuild(b, map[string]any{"user": "{{ .Subject }}", "tenant": "acme"})
	r := &pipeline.Request{Header: pipeline.Header{"cookie": {"session=abc123; user=admin; theme=dark; _ga=GA1.2.3"}}}
	b.ReportAllocs()
	for b.Loop() {
		s := &pipeline.Session{Subject: "alice"}
		if err := m.Mutate(context.Background(), r, s); err != nil {
			b.Fatal(err)
		}
	}
}
