package headerpolicy

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	allow, err := New([]string{"X-Envoy-Retry-On"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		policy  Policy
		header  string
		wantErr string // "" = allowed
	}{
		{name: "ordinary header", header: "X-User"},
		{name: "authorization", header: "Authorization"},
		{name: "cookie", header: "cookie"},
		{name: "prefix look-alike", header: "x-envoyish"},
		{name: "connection", header: "Connection", wantErr: `header "Connection" cannot be set: it is hop-by-hop`},
		{name: "keep-alive", header: "keep-alive", wantErr: `header "keep-alive" cannot be set: it is hop-by-hop`},
		{name: "proxy-connection", header: "Proxy-Connection", wantErr: `"Proxy-Connection" cannot be set: it is hop-by-hop`},
		{name: "te", header: "TE", wantErr: `header "TE" cannot be set: it is hop-by-hop`},
		{name: "upgrade", header: "Upgrade", wantErr: `header "Upgrade" cannot be set: it is hop-by-hop`},
		{name: "trailer", header: "Trailer", wantErr: `header "Trailer" cannot be set: it announces trailer fields`},
		{name: "transfer-encoding", header: "Transfer-Encoding", wantErr: `"Transfer-Encoding" cannot be set: it frames the message body`},
		{name: "content-length", header: "content-length", wantErr: `"content-length" cannot be set: it frames the message body`},
		{name: "x-envoy", header: "X-Envoy-Original-Path", wantErr: `header "X-Envoy-Original-Path" cannot be set: Envoy-internal headers (x-envoy-*) steer Envoy itself; list it in allow_envoy_headers`},
		{name: "x-envoy not in the allow list", policy: allow, header: "x-envoy-original-path", wantErr: "allow_envoy_headers"},
		{name: "x-envoy in the allow list, other case", policy: allow, header: "x-envoy-retry-on"},
		{name: "pseudo-header", header: ":authority", wantErr: `header ":authority" cannot be set: it is a pseudo-header`},
		{name: "pseudo-header path", header: ":path", wantErr: "pseudo-header"},
		{name: "not a token", header: "X User", wantErr: `invalid header name "X User"`},
		{name: "empty", header: "", wantErr: `invalid header name ""`},
		{name: "CRLF", header: "x\r\ny", wantErr: "invalid header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.header)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Check(%q) = %v, want nil", tt.header, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Check(%q) = %v, want it to contain %q", tt.header, err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("Check(%q) = %q: not one line", tt.header, err)
			}
		})
	}
}

// Host is reported with its own error so the header mutator can drop it
// with a warning while the others refuse it.
func TestCheckHost(t *testing.T) {
	for _, h := range []string{"Host", "host", "HOST"} {
		if err := (Policy{}).Check(h); !errors.Is(err, ErrHost) {
			t.Errorf("Check(%q) = %v, want ErrHost", h, err)
		}
	}
	if !strings.Contains(ErrHost.Error(), "host_rewrite_literal") {
		t.Errorf("ErrHost does not name the Envoy setting: %v", ErrHost)
	}
}

func TestCheckRemove(t *testing.T) {
	tests := []struct {
		header  string
		wantErr string
	}{
		{header: "Authorization"},
		{header: "x-envoy-original-path"}, // withholding is harmless
		{header: "Host", wantErr: `header "Host" cannot be removed: Envoy owns it`},
		{header: ":path", wantErr: `header ":path" cannot be removed: it is a pseudo-header`},
		{header: "Connection", wantErr: `header "Connection" cannot be removed: it is hop-by-hop`},
		{header: "x y", wantErr: `invalid header name "x y"`},
	}
	for _, tt := range tests {
		err := CheckRemove(tt.header)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckRemove(%q) = %v, want nil", tt.header, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckRemove(%q) = %v, want it to contain %q", tt.header, err, tt.wantErr)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		allow   []string
		wantErr string
	}{
		{allow: nil},
		{allow: []string{"x-envoy-retry-on", "X-Envoy-Upstream-Rq-Timeout-Ms"}},
		{allow: []string{"x-envoy-a", "content-length"}, wantErr: `allow_envoy_headers[1]: "content-length" is not an x-envoy-* header name`},
		{allow: []string{"x-envoy-"}, wantErr: `allow_envoy_headers[0]: "x-envoy-"`},
		{allow: []string{"x-envoy-*"}, wantErr: `allow_envoy_headers[0]: "x-envoy-*"`},
		{allow: []string{"x-envoy-a b"}, wantErr: `allow_envoy_headers[0]`},
	}
	for _, tt := range tests {
		_, err := New(tt.allow)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("New(%q) = %v, want nil", tt.allow, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("New(%q) = %v, want it to contain %q", tt.allow, err, tt.wantErr)
		}
	}
}
