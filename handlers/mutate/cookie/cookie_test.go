package cookie

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
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
		{name: "surrounding quotes are syntax, as net/http writes them", cookies: map[string]any{"q": `"abc"`}, want: `q=abc`},
		{name: "space is quoted", cookies: map[string]any{"name": "{{ .Extra.name }}"},
			session: &pipeline.Session{Extra: map[string]any{"name": "Alice Smith"}}, want: `name="Alice Smith"`},
		{name: "missing extra renders <no value>, quoted as in Oathkeeper", cookies: map[string]any{"g": "{{ .Extra.none }}"}, want: `g="<no value>"`},
		{name: "comma is quoted", cookies: map[string]any{"groups": `{{ join "," .Extra.groups }}`},
			session: &pipeline.Session{Extra: map[string]any{"groups": []any{"a", "b"}}}, want: `groups="a,b"`},
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
	for _, subject := range []string{"alice, role=admin", "alice bob"} {
		t.Run("subject "+subject+" is one quoted value", func(t *testing.T) {
			s := &pipeline.Session{Subject: subject}
			r := &pipeline.Request{Header: pipeline.Header{"cookie": {"user=admin"}}}
			if err := m.Mutate(context.Background(), r, s); err != nil {
				t.Fatal(err)
			}
			if got, want := s.Header.Get("cookie"), `user="`+subject+`"`; got != want {
				t.Fatalf("cookie = %q, want %q", got, want)
			}
		})
	}
	for _, subject := range []string{"alice; role=admin", `alice"`, "a\r\nX-Admin: 1", "a\x00b", "\x7f", "bäcker", `a\b`, `"a"b"`, "a\tb"} {
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

// Issue #10 item 1: a rendered value is delivered byte for byte as
// net/http's cookie writer (Oathkeeper's Request.AddCookie) delivers it,
// quoting included. Where net/http drops bytes, and so delivers another
// value than the template rendered, the request fails closed instead.
func TestValuesMatchNetHTTP(t *testing.T) {
	log.SetOutput(io.Discard) // net/http logs every byte it drops
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	tests := []struct {
		value     string
		delivered bool
	}{
		{"abc", true},
		{"", true},
		{"Alice Smith", true},
		{"a,b", true},
		{" leading", true},
		{"trailing ", true},
		{"a=b", true},
		{"eyJhbGciOiJSUzI1NiJ9.e30.sig", true},
		{"!#$%&'()*+-./:<=>?@[]^_`{|}~", true},
		{`"abc"`, true},
		{`"a b"`, true},
		{`""`, true},
		{`"`, false},
		{`alice"`, false},
		{`"a"b"`, false},
		{"a;b", false},
		{`a\b`, false},
		{"a\tb", false},
		{"a\r\nX-Admin: 1", false},
		{"a\x00b", false},
		{"\x7f", false},
		{"bäcker", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		t.Run(strings.ToValidUTF8(tt.value, "?"), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.AddCookie(&http.Cookie{Name: "c", Value: tt.value})
			netHTTP := req.Header.Get("Cookie")

			s := &pipeline.Session{Extra: map[string]any{"v": tt.value}}
			err := mustBuild(t, map[string]any{"c": "{{ .Extra.v }}"}).Mutate(context.Background(), &pipeline.Request{}, s)
			if !tt.delivered {
				if pipeline.ReasonOf(err, "") != "cookie_value_invalid" {
					t.Fatalf("err = %v, want cookie_value_invalid (net/http would send %q)", err, netHTTP)
				}
				// The refusal is only right where net/http alters the value.
				if unquoted := strings.Trim(strings.TrimPrefix(netHTTP, "c="), `"`); unquoted == tt.value {
					t.Fatalf("net/http delivers %q unchanged as %q, but it was refused", tt.value, netHTTP)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want %q as net/http sends it", err, netHTTP)
			}
			if got := s.Header.Get("cookie"); got != netHTTP {
				t.Fatalf("cookie = %q, net/http sends %q", got, netHTTP)
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
		{name: "semicolon would start another cookie", cookies: map[string]any{"g": "{{ .Extra.g }}"},
			s: &pipeline.Session{Extra: map[string]any{"g": "a; admin=1"}}, want: "cookie_value_invalid"},
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
