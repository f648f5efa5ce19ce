package match

import (
	"errors"
	"strings"
	"testing"
)

// TestCanonicalHost pins the host policy both front doors apply before
// any rule runs: want is the canonical host, or "" with bad set when the
// request must be denied as malformed (DENY-400).
func TestCanonicalHost(t *testing.T) {
	tests := []struct {
		name, scheme, host string
		want               string
		bad                bool
	}{
		{name: "empty stays empty", scheme: "https", host: "", want: ""},
		{name: "canonical unchanged", scheme: "https", host: "api.example.com", want: "api.example.com"},
		{name: "lower-cased", scheme: "https", host: "API.Example.COM", want: "api.example.com"},
		{name: "trailing dot removed", scheme: "https", host: "api.example.com.", want: "api.example.com"},
		{name: "https default port removed", scheme: "https", host: "api.example.com:443", want: "api.example.com"},
		{name: "http default port removed", scheme: "http", host: "api.example.com:80", want: "api.example.com"},
		{name: "scheme compared case-insensitively", scheme: "HTTPS", host: "api.example.com:443", want: "api.example.com"},
		{name: "other scheme's default port kept", scheme: "http", host: "api.example.com:443", want: "api.example.com:443"},
		{name: "other port kept", scheme: "https", host: "api.example.com:8443", want: "api.example.com:8443"},
		{name: "all at once", scheme: "https", host: "API.Example.com.:443", want: "api.example.com"},
		{name: "trailing dot before a port", scheme: "https", host: "Api.test.:8443", want: "api.test:8443"},
		{name: "port without scheme default", scheme: "rpc", host: "svc:80", want: "svc:80"},
		{name: "single label", scheme: "http", host: "localhost", want: "localhost"},
		{name: "underscore and hyphen", scheme: "http", host: "my_svc-1.internal", want: "my_svc-1.internal"},
		{name: "punycode kept", scheme: "https", host: "XN--BCHER-KVA.example", want: "xn--bcher-kva.example"},
		{name: "IPv4", scheme: "http", host: "127.0.0.1:6661", want: "127.0.0.1:6661"},
		{name: "IPv4 default port", scheme: "http", host: "10.0.0.1:80", want: "10.0.0.1"},
		{name: "IPv6", scheme: "https", host: "[2001:db8::1]:443", want: "[2001:db8::1]"},
		{name: "IPv6 upper hex", scheme: "https", host: "[2001:DB8::1]", want: "[2001:db8::1]"},
		{name: "IPv6 port kept", scheme: "https", host: "[::1]:8443", want: "[::1]:8443"},
		{name: "IPv4-mapped IPv6", scheme: "http", host: "[::FFFF:1.2.3.4]", want: "[::ffff:1.2.3.4]"},

		{name: "percent-encoding", scheme: "https", host: "api%2Eexample.com", bad: true},
		{name: "encoded letter", scheme: "https", host: "%61pi.example.com", bad: true},
		{name: "userinfo", scheme: "https", host: "admin@api.example.com", bad: true},
		{name: "space", scheme: "https", host: "api.example.com ", bad: true},
		{name: "tab", scheme: "https", host: "api\t.example.com", bad: true},
		{name: "NUL", scheme: "https", host: "api\x00.example.com", bad: true},
		{name: "slash", scheme: "https", host: "api.example.com/admin", bad: true},
		{name: "backslash", scheme: "https", host: `api.example.com\admin`, bad: true},
		{name: "comma of joined duplicates", scheme: "https", host: "a.test,b.test", bad: true},
		{name: "raw non-ASCII", scheme: "https", host: "bücher.example", bad: true},
		{name: "fullwidth letters", scheme: "https", host: "\uff41pi.example.com", bad: true},
		{name: "two trailing dots", scheme: "https", host: "api.example.com..", bad: true},
		{name: "empty label", scheme: "https", host: "api..example.com", bad: true},
		{name: "leading dot", scheme: "https", host: ".example.com", bad: true},
		{name: "dot only", scheme: "https", host: ".", bad: true},
		{name: "empty port", scheme: "https", host: "api.example.com:", bad: true},
		{name: "port zero", scheme: "https", host: "api.example.com:0", bad: true},
		{name: "port leading zero", scheme: "https", host: "api.example.com:0443", bad: true},
		{name: "port too large", scheme: "https", host: "api.example.com:65536", bad: true},
		{name: "port sign", scheme: "https", host: "api.example.com:+443", bad: true},
		{name: "port only", scheme: "https", host: ":443", bad: true},
		{name: "two colons", scheme: "https", host: "a:b:443", bad: true},
		{name: "bare IPv6", scheme: "https", host: "2001:db8::1", bad: true},
		{name: "short IPv4", scheme: "http", host: "127.1", bad: true},
		{name: "hex IPv4", scheme: "http", host: "0x7f.0.0.1", bad: true},
		{name: "octal IPv4", scheme: "http", host: "0177.0.0.1", bad: true},
		{name: "decimal IPv4", scheme: "http", host: "2130706433", bad: true},
		{name: "numeric last label", scheme: "http", host: "api.example.123", bad: true},
		{name: "IPv6 zone", scheme: "https", host: "[fe80::1%25eth0]", bad: true},
		{name: "IPv6 not RFC 5952", scheme: "https", host: "[2001:db8:0::1]", bad: true},
		{name: "IPv6 unclosed", scheme: "https", host: "[::1", bad: true},
		{name: "IPv6 trailing text", scheme: "https", host: "[::1]x", bad: true},
		{name: "IPv6 empty port", scheme: "https", host: "[::1]:", bad: true},
		{name: "IPv4 in brackets", scheme: "https", host: "[127.0.0.1]", bad: true},
		{name: "IPvFuture", scheme: "https", host: "[v1.x]", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalHost(tt.scheme, tt.host)
			if tt.bad {
				if err == nil || !errors.Is(err, ErrMalformedHost) || got != "" {
					t.Fatalf("CanonicalHost(%q, %q) = %q, %v, want ErrMalformedHost", tt.scheme, tt.host, got, err)
				}
				if strings.ContainsAny(err.Error(), "\x00\t\n") {
					t.Fatalf("error %q carries a raw control character", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CanonicalHost(%q, %q) = %q, %v, want %q", tt.scheme, tt.host, got, err, tt.want)
			}
			if again, err := CanonicalHost(tt.scheme, got); err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q -> %q, %v", tt.host, got, again, err)
			}
		})
	}
}

// TestCanonicalHostDoesNotAllocate keeps the common cases free: a
// canonical host, and one whose only change is a removed default port.
func TestCanonicalHostDoesNotAllocate(t *testing.T) {
	for _, host := range []string{"api.example.com", "api.example.com:8443", "api.example.com:443", "10.0.0.1"} {
		if n := testing.AllocsPerRun(100, func() {
			if _, err := CanonicalHost("https", host); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("CanonicalHost(%q) allocated %v times", host, n)
		}
	}
}
