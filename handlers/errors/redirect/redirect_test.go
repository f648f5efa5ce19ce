package redirect

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func build(cfg map[string]any) (pipeline.ErrorHandler, error) {
	var c Config
	if err := pipeline.MapDecoder(cfg).Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return New(c)
}

func mustBuild(t *testing.T, cfg map[string]any) pipeline.ErrorHandler {
	t.Helper()
	h, err := build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandleErrorRedirects(t *testing.T) {
	full := &pipeline.Request{Scheme: "https", Host: "api.test", RawPath: "/orders/7", Path: "/orders/7", RawQuery: "a=1&b=x y"}
	tests := []struct {
		name       string
		cfg        map[string]any
		r          *pipeline.Request
		wantStatus int
		wantLoc    string
	}{
		{name: "defaults to 302 and the target as configured", cfg: map[string]any{"to": "https://login.test/signin?x=1"}, r: full,
			wantStatus: 302, wantLoc: "https://login.test/signin?x=1"},
		{name: "code 301 is kept", cfg: map[string]any{"to": "/login", "code": 301}, r: full, wantStatus: 301, wantLoc: "/login"},
		{name: "code 302 is kept", cfg: map[string]any{"to": "/login", "code": 302}, r: full, wantStatus: 302, wantLoc: "/login"},
		{name: "other codes become 302 as in Oathkeeper", cfg: map[string]any{"to": "/login", "code": 307}, r: full, wantStatus: 302, wantLoc: "/login"},
		{name: "return_to carries a path-only request as Oathkeeper's test", cfg: map[string]any{"to": "http://test/signin", "return_to_query_param": "return_to"},
			r: &pipeline.Request{RawPath: "/test"}, wantStatus: 302, wantLoc: "http://test/signin?return_to=%2Ftest"},
		{name: "return_to carries scheme host path and query", cfg: map[string]any{"to": "https://login.test/signin", "return_to_query_param": "return_to"},
			r: full, wantStatus: 302, wantLoc: "https://login.test/signin?return_to=https%3A%2F%2Fapi.test%2Forders%2F7%3Fa%3D1%26b%3Dx+y"},
		{name: "return_to keeps other params and the fragment", cfg: map[string]any{"to": "/login?lang=de&return_to=old#top", "return_to_query_param": "return_to"},
			r: &pipeline.Request{Scheme: "http", Host: "h", Path: "/p"}, wantStatus: 302, wantLoc: "/login?lang=de&return_to=http%3A%2F%2Fh%2Fp#top"},
		{name: "return_to falls back to the normalised path", cfg: map[string]any{"to": "/login", "return_to_query_param": "r"},
			r: &pipeline.Request{Path: "/x"}, wantStatus: 302, wantLoc: "/login?r=%2Fx"},
		{name: "return_to without scheme assumes https", cfg: map[string]any{"to": "/login", "return_to_query_param": "r"},
			r: &pipeline.Request{Host: "h", RawPath: "/x"}, wantStatus: 302, wantLoc: "/login?r=https%3A%2F%2Fh%2Fx"},
		{name: "about:blank as configured", cfg: map[string]any{"to": "about:blank"}, r: full, wantStatus: 302, wantLoc: "about:blank"},
		{name: "opaque target with return_to", cfg: map[string]any{"to": "about:blank", "return_to_query_param": "r"},
			r: &pipeline.Request{Path: "/x"}, wantStatus: 302, wantLoc: "about:blank?r=%2Fx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := mustBuild(t, tt.cfg).HandleError(context.Background(), tt.r, pipeline.Unauthorized("x", "", nil))
			if err != nil {
				t.Fatal(err)
			}
			want := pipeline.Denial{Status: tt.wantStatus, Header: pipeline.Header{"location": {tt.wantLoc}}}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Fatalf("denial (-want +got):\n%s", diff)
			}
		})
	}
}

func TestC14ReturnURLIsEscapedInLocation(t *testing.T) {
	h := mustBuild(t, map[string]any{"to": "/login", "return_to_query_param": "return_to"})
	r := &pipeline.Request{Scheme: "https", Host: "api.test\r\nX-Evil: 1", RawPath: "/admin/%0d%0aSet-Cookie:x=1\r\nSet-Cookie: y=2", RawQuery: "q=\n"}
	d, err := h.HandleError(context.Background(), r, pipeline.Unauthorized("x", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	loc := d.Header.Get("location")
	if strings.ContainsAny(loc, "\r\n\x00 ") {
		t.Fatalf("Location %q carries raw request bytes", loc)
	}
	if !strings.HasPrefix(loc, "/login?return_to=https%3A%2F%2Fapi.test%0D%0AX-Evil") {
		t.Fatalf("Location = %q", loc)
	}
}

func TestHandlesNeverRedirectsInternalFaults(t *testing.T) {
	browser := &pipeline.Request{Header: pipeline.Header{"accept": {"text/html"}}}
	api := &pipeline.Request{Header: pipeline.Header{"accept": {"application/json"}}}
	tests := []struct {
		name string
		cfg  map[string]any
		r    *pipeline.Request
		err  error
		want bool
	}{
		{"authentication failure is redirected", map[string]any{"to": "/login"}, browser, pipeline.Unauthorized("x", "", nil), true},
		{"nobody responsible is redirected", map[string]any{"to": "/login"}, browser, pipeline.ErrSkip, true},
		{"forbidden is redirected without conditions", map[string]any{"to": "/login"}, browser, pipeline.Forbidden("x", "", nil), true},
		{"internal error is never redirected", map[string]any{"to": "/login"}, browser, pipeline.Internal("x", "", nil), false},
		{"unavailable dependency is never redirected", map[string]any{"to": "/login"}, browser, pipeline.Unavailable("jwks_unavailable", "", nil), false},
		{"plain error is never redirected", map[string]any{"to": "/login"}, browser, errors.New("boom"), false},
		{"when naming internal_server_error still does not redirect", map[string]any{"to": "/login",
			"when": []any{map[string]any{"error": []any{"internal_server_error"}}}}, browser, pipeline.Internal("x", "", nil), false},
		{"accept condition selects browsers", map[string]any{"to": "/login",
			"when": []any{map[string]any{"request": map[string]any{"header": map[string]any{"accept": []any{"text/*"}}}}}}, browser, pipeline.ErrUnauthorized, true},
		{"accept condition skips API clients", map[string]any{"to": "/login",
			"when": []any{map[string]any{"request": map[string]any{"header": map[string]any{"accept": []any{"text/*"}}}}}}, api, pipeline.ErrUnauthorized, false},
		{"error condition limits to unauthorized", map[string]any{"to": "/login",
			"when": []any{map[string]any{"error": []any{"unauthorized"}}}}, browser, pipeline.ErrForbidden, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustBuild(t, tt.cfg).Handles(tt.r, tt.err); got != tt.want {
				t.Fatalf("Handles = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr string
	}{
		{name: "relative target", cfg: map[string]any{"to": "/login"}},
		{name: "relative target without slash", cfg: map[string]any{"to": "login"}},
		{name: "http target", cfg: map[string]any{"to": "http://my-app.com/dashboard"}},
		{name: "param with allowed punctuation", cfg: map[string]any{"to": "/login", "return_to_query_param": "return-to_.~,1"}},
		{name: "missing to", cfg: map[string]any{}, wantErr: "to: required"},
		// Issue #10 item 8: any URI reference Oathkeeper's schema accepts.
		{name: "about:blank", cfg: map[string]any{"to": "about:blank"}},
		{name: "about:blank with return_to", cfg: map[string]any{"to": "about:blank", "return_to_query_param": "r"}},
		{name: "ftp scheme", cfg: map[string]any{"to": "ftp://files.test/"}},
		{name: "custom app scheme", cfg: map[string]any{"to": "myapp://login"}},
		{name: "urn", cfg: map[string]any{"to": "urn:ietf:rfc:3986"}},
		{name: "mailto", cfg: map[string]any{"to": "mailto:ops@example.test?subject=denied"}},
		{name: "network-path reference", cfg: map[string]any{"to": "//login.test/signin"}},
		{name: "dot segments", cfg: map[string]any{"to": "../login"}},
		{name: "query only", cfg: map[string]any{"to": "?login=1"}},
		{name: "fragment only", cfg: map[string]any{"to": "#login"}},
		{name: "percent-encoded bytes", cfg: map[string]any{"to": "/log%20in?next=%2F"}},
		{name: "javascript scheme", cfg: map[string]any{"to": "javascript:alert(1)"}, wantErr: "to: javascript: targets are refused"},
		{name: "javascript scheme in capitals", cfg: map[string]any{"to": "JavaScript:alert(1)"}, wantErr: "to: javascript: targets are refused"},
		{name: "data scheme", cfg: map[string]any{"to": "data:text/html,<p>hi</p>"}, wantErr: "to: data: targets are refused"},
		{name: "vbscript scheme", cfg: map[string]any{"to": "vbscript:msgbox(1)"}, wantErr: "to: vbscript: targets are refused"},
		{name: "backslash", cfg: map[string]any{"to": "/\\evil.test"}, wantErr: "to: byte 0x5c at offset 1 must be percent-encoded"},
		{name: "absolute without host", cfg: map[string]any{"to": "https:///login"}, wantErr: `to: "https:///login" has no host`},
		{name: "space", cfg: map[string]any{"to": "/log in"}, wantErr: "to: byte 0x20 at offset 4 must be percent-encoded"},
		{name: "CRLF", cfg: map[string]any{"to": "/login\r\nSet-Cookie: a=1"}, wantErr: "to: byte 0x0d"},
		{name: "user info", cfg: map[string]any{"to": "https://u:p@login.test/"}, wantErr: "to: must not carry user info"},
		{name: "bad url", cfg: map[string]any{"to": "http://[::1/"}, wantErr: "to: parse"},
		{name: "param with slash", cfg: map[string]any{"to": "/login", "return_to_query_param": "a/b"}, wantErr: `return_to_query_param: "a/b" does not match`},
		{name: "code must be a number", cfg: map[string]any{"to": "/login", "code": "302"}, wantErr: "code"},
		{name: "unknown key", cfg: map[string]any{"to": "/login", "status": 302}, wantErr: `unknown field "status"`},
		{name: "bad when", cfg: map[string]any{"to": "/login", "when": []any{map[string]any{"request": map[string]any{"remote_ip": map[string]any{"match": []any{"nope"}}}}}},
			wantErr: `when[0].request: invalid ip "nope"`},
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

func TestDenialHeaderIsFreshPerCall(t *testing.T) {
	h := mustBuild(t, map[string]any{"to": "/login"})
	d1, _ := h.HandleError(context.Background(), &pipeline.Request{}, pipeline.ErrUnauthorized)
	d1.Header.Set("location", "https://evil.test/")
	d2, _ := h.HandleError(context.Background(), &pipeline.Request{}, pipeline.ErrUnauthorized)
	if got := d2.Header.Get("location"); got != "/login" || d2.Status != http.StatusFound {
		t.Fatalf("second denial saw the first one's mutation: %q", got)
	}
}
