package remotejson

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/internal/outbound"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestPayloadIsSentAsRendered: what passes the checks reaches the remote
// byte for byte, formatting and unquoted numeric actions included.
func TestPayloadIsSentAsRendered(t *testing.T) {
	tests := []struct{ name, payload, want string }{
		{"oathkeeper payload", `{"subject":"{{ .Subject }}","extra":"{{ .Extra.foo }}","match":"{{ index .MatchContext.RegexpCaptureGroups 0 }}"}`,
			`{"subject":"alice","extra":"bar","match":"baz"}`},
		{"unquoted numeric action", `{"n": {{ print .Extra.n }}, "big": {{ print .Extra.big }}}`, `{"n": 10, "big": 12345678901234567890}`},
		{"formatting kept", "{\n  \"sub\" : \"{{ .Subject }}\" ,\n  \"groups\": {{ toJson .Extra.groups }}\n}\n",
			"{\n  \"sub\" : \"alice\" ,\n  \"groups\": [\"a\",\"b\"]\n}\n"},
		{"escapes kept", `{"s":"\u0041{{ .Subject }}\/"}`, `{"s":"\u0041alice\/"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, answer(200, ""))
			s := testSession()
			s.Extra = map[string]any{"foo": "bar", "n": 10, "big": "12345678901234567890", "groups": []any{"a", "b"}}
			if err := newAuthorizer(t, Config{Remote: f.URL, Payload: tt.payload}).Authorize(context.Background(), testRequest(), s); err != nil {
				t.Fatal(err)
			}
			if got := f.seen().body; got != tt.want {
				t.Errorf("remote got  %q\nwant        %q", got, tt.want)
			}
		})
	}
}

// TestPayloadStructureChangesAreDenied: a value that breaks out of its
// quotes used to reach the remote as a document with another member (the
// remote then read "admin": true). Now nothing is sent and the request
// fails closed with its own reason.
func TestPayloadStructureChangesAreDenied(t *testing.T) {
	breakout := `a@b.c","admin":true,"x":"`
	tests := []struct {
		name, payload, subject string
		extra                  map[string]any
	}{
		{name: "subject adds a member", payload: `{"sub":"{{ .Subject }}","action":"read"}`, subject: breakout},
		{name: "extra value adds a member", payload: `{"email":"{{ .Extra.email }}"}`, extra: map[string]any{"email": breakout}},
		{name: "subject adds a nested member", payload: `{"input":{"user":"{{ .Subject }}"}}`, subject: breakout},
		{name: "subject overrides a later member", payload: `{"user":"{{ .Subject }}","role":"viewer"}`, subject: `u","role":"admin`},
		{name: "unquoted action adds a member", payload: `{"n":{{ print .Extra.n }}}`, extra: map[string]any{"n": `1,"admin":true`}},
		{name: "duplicate member", payload: `{"action":"read"{{ if .Extra.w }},"action":"write"{{ end }}}`, extra: map[string]any{"w": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeRemote(t, answer(200, ""))
			s := testSession()
			if tt.subject != "" {
				s.Subject = tt.subject
			}
			if tt.extra != nil {
				s.Extra = tt.extra
			}
			err := newAuthorizer(t, Config{Remote: f.URL, Payload: tt.payload}).Authorize(context.Background(), testRequest(), s)
			if pipeline.StatusOf(err) != 500 || pipeline.ReasonOf(err, "") != "remote_json_template_output_invalid" {
				t.Fatalf("err = %v, want 500 remote_json_template_output_invalid", err)
			}
			if strings.Contains(err.Error(), "admin") {
				t.Errorf("error shows payload content: %v", err)
			}
			if n := f.calls.Load(); n != 0 {
				t.Errorf("remote called %d times", n)
			}
		})
	}
}

// TestPayloadTemplateLoadErrors: a payload that reads the environment, or
// whose top-level members would be chosen by an action, does not load.
func TestPayloadTemplateLoadErrors(t *testing.T) {
	tests := []struct{ name, payload, want string }{
		{"env", `{"home":"{{ env "HOME" }}"}`, `function "env" is not available`},
		{"getHostByName", `{"ip":"{{ getHostByName "localhost" }}"}`, `function "getHostByName" is not available`},
		{"whole payload from an action", `{{ toJson .Extra }}`, "must start with its own text"},
		{"static duplicate", `{"a":1,"a":2}`, "duplicate member"},
	}
	client := outbound.New(outbound.Options{Timeout: time.Second, MaxBodyBytes: 1 << 20})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Remote: "http://127.0.0.1:1/", Payload: tt.payload}, client)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "payload") {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
