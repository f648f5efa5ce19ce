package remotecall

import (
	"strings"
	"testing"
)

func TestParseURLAcceptsOnlyFixedHTTPEndpoints(t *testing.T) {
	tests := []struct {
		name, raw, wantErr string
	}{
		{name: "https with path and query", raw: "https://authz.test/check?x=1"},
		{name: "http with port", raw: "http://127.0.0.1:8080"},
		{name: "empty", raw: "", wantErr: "is required"},
		{name: "template in the path (D-01)", raw: "https://authz.test/users/{{ .Subject }}", wantErr: "templates are not allowed"},
		{name: "template in the host (D-01)", raw: "https://{{ .Extra.host }}/check", wantErr: "templates are not allowed"},
		{name: "unsupported scheme", raw: "file:///etc/passwd", wantErr: `unsupported scheme "file"`},
		{name: "relative", raw: "/whoami", wantErr: `unsupported scheme ""`},
		{name: "no host", raw: "https:///x", wantErr: "missing host"},
		{name: "port without host", raw: "http://:80/x", wantErr: "missing host"},
		{name: "fragment", raw: "https://a.test/x#frag", wantErr: "must not have a fragment"},
		{name: "empty fragment", raw: "https://a.test/x#", wantErr: "must not have a fragment"},
		{name: "unparsable, without echoing the password", raw: "https://user:s3cret@a.test:port/", wantErr: "invalid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ParseURL(tt.raw)
			if tt.wantErr == "" {
				if err != nil || u == nil {
					t.Fatalf("ParseURL(%q) = %v, %v", tt.raw, u, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseURL(%q) error = %v, want %q", tt.raw, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}
