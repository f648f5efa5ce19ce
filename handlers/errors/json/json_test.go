package json

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func mustNew(t testing.TB, cfg map[string]any) pipeline.ErrorHandler {
	t.Helper()
	var c Config
	if err := pipeline.MapDecoder(cfg).Decode(&c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	h, err := New(c)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return h
}

func decodeBody(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var env map[string]map[string]any
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("body %q is not JSON: %v", raw, err)
	}
	return env["error"]
}

func TestHandleErrorRendersHerodotShape(t *testing.T) {
	rateLimited := pipeline.NewError(http.StatusTooManyRequests, "introspection_rate_limited", "slow down", nil)
	rateLimited.Header = pipeline.Header{"retry-after": {"7"}}
	detailed := pipeline.Forbidden("scope_missing", "scope write is required", errors.New("token=s3cr3t"))
	detailed.Message = "Missing scope"
	detailed.Details = map[string]any{"required": "write"}

	tests := []struct {
		name       string
		verbose    bool
		err        error
		wantStatus int
		want       map[string]any
		wantHeader pipeline.Header
	}{
		{
			name: "non-verbose 401 shows only the generic message", err: pipeline.Unauthorized("jwt_expired", "token expired", nil),
			wantStatus: 401,
			want:       map[string]any{"code": 401.0, "status": "Unauthorized", "message": "The request could not be authorized", "request": "req-1"},
		},
		{
			name: "verbose adds reason id message and details", verbose: true, err: detailed,
			wantStatus: 403,
			want: map[string]any{"code": 403.0, "status": "Forbidden", "message": "Missing scope", "reason": "scope write is required",
				"id": "scope_missing", "request": "req-1", "details": map[string]any{"required": "write"}},
		},
		{
			name: "verbose shows Oathkeeper's message when the error has none", verbose: true, err: pipeline.Unauthorized("jwt_expired", "token expired", nil),
			wantStatus: 401,
			want:       map[string]any{"code": 401.0, "status": "Unauthorized", "message": "Access credentials are invalid", "reason": "token expired", "id": "jwt_expired", "request": "req-1"},
		},
		{
			name: "non-verbose 503 hides the reason", err: pipeline.Unavailable("jwks_unavailable", "jwks fetch timed out", nil),
			wantStatus: 503,
			want:       map[string]any{"code": 503.0, "status": "Service Unavailable", "message": "The upstream service is not available", "request": "req-1"},
		},
		{
			name: "plain error is an internal error without its text", verbose: true, err: errors.New("dial tcp: password=hunter2"),
			wantStatus: 500,
			want:       map[string]any{"code": 500.0, "status": "Internal Server Error", "message": "An internal server error occurred, please contact the system administrator", "request": "req-1"},
		},
		{
			name: "nobody responsible is 401", err: fmt.Errorf("chain: %w", pipeline.ErrSkip),
			wantStatus: 401,
			want:       map[string]any{"code": 401.0, "status": "Unauthorized", "message": "The request could not be authorized", "request": "req-1"},
		},
		{
			name: "rate limit headers are copied", err: rateLimited,
			wantStatus: 429, wantHeader: pipeline.Header{"retry-after": {"7"}, "content-type": {"application/json"}},
			want: map[string]any{"code": 429.0, "status": "Too Many Requests", "message": "Too many requests", "request": "req-1"},
		},
		{
			name: "success status from a buggy handler becomes 500", verbose: true, err: &pipeline.Error{Status: 200, Reason: "oops"},
			wantStatus: 500,
			want:       map[string]any{"code": 500.0, "status": "Internal Server Error", "message": "An internal server error occurred, please contact the system administrator", "request": "req-1"},
		},
		{
			name: "details JSON cannot encode are dropped", verbose: true,
			err:        &pipeline.Error{Status: 401, ID: "x", Details: map[string]any{"f": func() {}}},
			wantStatus: 401,
			want:       map[string]any{"code": 401.0, "status": "Unauthorized", "message": "Access credentials are invalid", "id": "x", "request": "req-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := mustNew(t, map[string]any{"verbose": tt.verbose})
			d, err := h.HandleError(context.Background(), &pipeline.Request{ID: "req-1"}, tt.err)
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", d.Status, tt.wantStatus)
			}
			if diff := cmp.Diff(tt.want, decodeBody(t, d.Body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			wantHeader := tt.wantHeader
			if wantHeader == nil {
				wantHeader = pipeline.Header{"content-type": {"application/json"}}
			}
			if diff := cmp.Diff(wantHeader, d.Header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			for _, secret := range []string{"s3cr3t", "hunter2"} {
				if strings.Contains(string(d.Body), secret) {
					t.Errorf("body leaks the cause: %s", d.Body)
				}
			}
		})
	}
}

func TestC14DenialHeadersAndBodyCarryNoInjection(t *testing.T) {
	pe := pipeline.Unauthorized("x", "bad token\r\nSet-Cookie: a=1", nil)
	pe.Header = pipeline.Header{
		"www-authenticate": {"Bearer error=\"invalid_token\"\r\nSet-Cookie: x=1", `Bearer realm="api"`},
		"x-nul":            {"a\x00b"},
		"x-latin1":         {"caf\xe9"},
		":status":          {"200"},
		"bad name":         {"v"},
		"content-type":     {"text/html"},
		"content-length":   {"0"},
	}
	h := mustNew(t, map[string]any{"verbose": true})
	r := &pipeline.Request{ID: "id\r\nSet-Cookie: y=1<script>", RawPath: "/admin/%0d%0aSet-Cookie:x=1"}
	d, err := h.HandleError(context.Background(), r, pe)
	if err != nil {
		t.Fatal(err)
	}
	want := pipeline.Header{"www-authenticate": {`Bearer realm="api"`}, "content-type": {"application/json"}}
	if diff := cmp.Diff(want, d.Header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	for k, vs := range d.Header {
		for _, v := range vs {
			if strings.ContainsAny(k+v, "\r\n\x00") {
				t.Errorf("header %q=%q carries a control character", k, v)
			}
		}
	}
	if strings.ContainsAny(string(d.Body), "\r\n<>") {
		t.Errorf("body reflects unescaped request data: %s", d.Body)
	}
	if got := decodeBody(t, d.Body)["request"]; got != r.ID {
		t.Errorf("request id round-trip = %q, want %q", got, r.ID)
	}
}

func TestConfigRejectsUnknownKeysAndBadConditions(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{name: "empty config is valid", cfg: map[string]any{}},
		{name: "verbose true is valid", cfg: map[string]any{"verbose": true}},
		{name: "unknown key", cfg: map[string]any{"verbos": true}, wantErr: `unknown field "verbos"`},
		{name: "verbose must be a bool", cfg: map[string]any{"verbose": "yes"}, wantErr: "verbose"},
		{name: "bad cidr names the condition", cfg: map[string]any{"when": []any{map[string]any{"request": map[string]any{"cidr": map[string]any{"match": []any{"10.0.0.0/33"}}}}}},
			wantErr: `when[0].request: invalid cidr "10.0.0.0/33"`},
		{name: "bad status key", cfg: map[string]any{"when": []any{map[string]any{"error": []any{"not found"}}}}, wantErr: "when[0].error"},
		{name: "unknown when key", cfg: map[string]any{"when": []any{map[string]any{"errors": []any{"forbidden"}}}}, wantErr: `unknown field "errors"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			err := pipeline.MapDecoder(tt.cfg).Decode(&c)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				_, err = New(c)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func BenchmarkHandleError(b *testing.B) {
	for _, verbose := range []bool{false, true} {
		b.Run(fmt.Sprintf("verbose=%v", verbose), func(b *testing.B) {
			h := mustNew(b, map[string]any{"verbose": verbose})
			r := &pipeline.Request{ID: "3f0c7a52-0d7e-4b8e-9a7e-9c3f1b2a4d5e"}
			err := pipeline.Unauthorized("jwt_expired", "token is expired", nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, e := h.HandleError(context.Background(), r, err); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
