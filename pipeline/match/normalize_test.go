package match

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestNormalizePath pins Oathkeeper's path.Clean behaviour and the
// SECURITY_CASES.md category B inputs. want is the normalised path, or ""
// with bad set when the request must be denied as malformed (DENY-400).
func TestNormalizePath(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string
		bad  bool
	}{
		// Oathkeeper path.Clean (GHSA-p224-6x5r-fjpm).
		{name: "empty stays empty", raw: "", want: ""},
		{name: "root", raw: "/", want: "/"},
		{name: "clean path unchanged", raw: "/users/1234", want: "/users/1234"},
		{name: "trailing slash removed", raw: "/api/", want: "/api"},
		{name: "double slash collapsed", raw: "//admin", want: "/admin"},
		{name: "dot dot above root stays at root", raw: "/../admin", want: "/admin"},
		{name: "dot segment", raw: "/a/./b", want: "/a/b"},
		{name: "non-ASCII kept", raw: "/caf%C3%A9", want: "/café"},
		{name: "encoded U+FFFD is valid UTF-8", raw: "/%EF%BF%BD", want: "/\uFFFD"},
		{name: "encoded query delimiter is a path character", raw: "/a%3Fb%23c", want: "/a?b#c"},
		{name: "space inside a segment", raw: "/a%20b", want: "/a b"},
		{name: "not absolute", raw: "admin", bad: true},
		{name: "asterisk form", raw: "*", bad: true},
		{name: "raw query not split off", raw: "/admin/secrets?x=/public/a", bad: true},
		{name: "raw fragment", raw: "/admin#x", bad: true},
		{name: "raw fragment alone", raw: "/admin#", bad: true},
		{name: "raw fragment after escape", raw: "/adm%69n#x", bad: true},
		{name: "truncated escape", raw: "/admin%4", bad: true},
		{name: "non-hex escape", raw: "/admin%zz", bad: true},

		// B-01 dot-segment traversal: resolved, so R-pub cannot apply.
		{name: "B-01 dot dot", raw: "/public/../admin/secrets", want: "/admin/secrets"},
		{name: "B-01 dot then dot dot", raw: "/public/./../admin/secrets", want: "/admin/secrets"},
		{name: "B-01 two levels", raw: "/public/x/../../admin/secrets", want: "/admin/secrets"},
		{name: "B-01 encoded dot dot", raw: "/public/%2e%2E/admin/secrets", want: "/admin/secrets"},

		// B-03 double encoding: refused, whatever byte it spells and
		// however its hex digits are cased or themselves encoded.
		{name: "B-03 %252e", raw: "/public/%252e%252e/admin/secrets", bad: true},
		{name: "B-03 %252E upper hex", raw: "/public/%252E%252E/admin/secrets", bad: true},
		{name: "B-03 %252f", raw: "/public/..%252fadmin/secrets", bad: true},
		{name: "B-03 %252F", raw: "/public/..%252Fadmin/secrets", bad: true},
		{name: "B-03 %255c", raw: "/public/..%255cadmin/secrets", bad: true},
		{name: "B-03 %255C", raw: "/public/..%255Cadmin/secrets", bad: true},
		{name: "B-03 %25%32%65", raw: "/public/%25%32%65%25%32%65/admin", bad: true},
		{name: "B-03 %25%32e", raw: "/public/%25%32e/admin", bad: true},
		{name: "B-03 %252%65", raw: "/public/%252%65/admin", bad: true},
		{name: "B-03 %2541 any double-encoded byte", raw: "/a%2541", bad: true},
		{name: "B-03 triple encoding", raw: "/a%25252e", bad: true},
		{name: "encoded percent before non-hex stays literal", raw: "/100%25/x%25zz", want: "/100%/x%zz"},
		{name: "encoded percent at the end", raw: "/a%25", want: "/a%"},
		{name: "encoded percent before one hex digit", raw: "/a%25e", want: "/a%e"},

		// B-04 escaped slashes and backslashes (Envoy REJECT_REQUEST).
		{name: "B-04 %2F", raw: "/public%2F..%2Fadmin/secrets", bad: true},
		{name: "B-04 %2f", raw: "/public/..%2fadmin/secrets", bad: true},
		{name: "B-04 %5C", raw: "/public/..%5Cadmin/secrets", bad: true},
		{name: "B-04 %5c", raw: "/public/..%5cadmin/secrets", bad: true},
		{name: "B-04 raw backslash", raw: `/public\..\admin/secrets`, bad: true},

		// B-08 semicolon path parameters.
		{name: "B-08 dot dot semicolon", raw: "/public/..;/admin/secrets", bad: true},
		{name: "B-08 params then dot dot", raw: "/public;x=1/../admin/secrets", bad: true},
		{name: "B-08 jsessionid", raw: "/admin;jsessionid=1/secrets", bad: true},
		{name: "B-08 encoded semicolon", raw: "/public/..%3b/admin/secrets", bad: true},

		// B-10 trailing slash, trailing dot, white space. "/admin" stays
		// "/admin": a rule "/admin/<**>" does not cover it (see
		// TestIndexAdminPrefixNeedsItsOwnRule).
		{name: "B-10 no trailing slash", raw: "/admin", want: "/admin"},
		{name: "B-10 trailing slash", raw: "/admin/", want: "/admin"},
		{name: "B-10 trailing slash deeper", raw: "/admin/secrets/", want: "/admin/secrets"},
		{name: "B-10 encoded trailing space", raw: "/admin%20/secrets", bad: true},
		{name: "B-10 leading space", raw: "/%20admin/secrets", bad: true},
		{name: "B-10 no-break space", raw: "/admin%C2%A0/secrets", bad: true},
		{name: "B-10 trailing dot", raw: "/admin./secrets", bad: true},
		{name: "B-10 trailing dot last segment", raw: "/admin.", bad: true},
		{name: "B-10 three dots", raw: "/.../admin", bad: true},
		{name: "B-10 tab", raw: "/admin%09/secrets", bad: true},
		{name: "B-10 NUL", raw: "/admin%00/secrets", bad: true},
		{name: "B-10 raw DEL", raw: "/admin\x7f", bad: true},
		{name: "B-10 C1 control", raw: "/admin%C2%85", bad: true},

		// B-16 Unicode: no compatibility folding, invalid UTF-8 rejected.
		{name: "B-16 fullwidth a is not folded", raw: "/%EF%BD%81dmin/secrets", want: "/\uff41dmin/secrets"},
		{name: "B-16 fullwidth solidus is not a separator", raw: "/admin%EF%BC%8Fsecrets", want: "/admin\uff0fsecrets"},
		{name: "B-16 overlong dots", raw: "/public/%C0%AE%C0%AE/admin", bad: true},
		{name: "B-16 invalid byte", raw: "/admin%FF", bad: true},
		{name: "B-16 raw invalid byte", raw: "/admin\xff", bad: true},
		{name: "B-16 encoded surrogate", raw: "/%ED%A0%80", bad: true},

		// B-26 encoded unreserved characters equal their plain form.
		{name: "B-26 %69", raw: "/adm%69n/secrets", want: "/admin/secrets"},
		{name: "B-26 %61", raw: "/%61dmin/secrets", want: "/admin/secrets"},
		{name: "B-26 %73", raw: "/admin/%73ecrets", want: "/admin/secrets"},
		{name: "B-26 upper hex", raw: "/admi%6E/secrets", want: "/admin/secrets"},
		{name: "B-26 lower hex", raw: "/admi%6e/secrets", want: "/admin/secrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizePath(tt.raw)
			if tt.bad {
				if err == nil || !errors.Is(err, ErrMalformedPath) {
					t.Fatalf("NormalizePath(%q) = %q, %v, want ErrMalformedPath", tt.raw, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizePath(%q) = %q, %v, want %q", tt.raw, got, err, tt.want)
			}
		})
	}
}

// TestNormalizePathCleanPathDoesNotAllocate keeps the common case free.
func TestNormalizePathCleanPathDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if _, err := NormalizePath("/api/v1/users/1234"); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("NormalizePath allocated %v times", n)
	}
}

// FuzzNormalizePath checks properties every accepted path has: it is its
// own path.Clean, it holds none of the rejected bytes, and without escapes
// it is exactly Oathkeeper's path.Clean of the input.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"", "/", "/a/b/", "//a/./b/../c", "/%2e%2e/x", "/a%252e", "/a%25", "/a%20b/", "/ü/%C3%BC", "/a;b", "/a\\b", "/a."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := NormalizePath(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformedPath) {
				t.Fatalf("error %v does not wrap ErrMalformedPath", err)
			}
			return
		}
		if raw == "" {
			if out != "" {
				t.Fatalf("NormalizePath(\"\") = %q", out)
			}
			return
		}
		if out != path.Clean(out) {
			t.Fatalf("NormalizePath(%q) = %q, which path.Clean changes", raw, out)
		}
		if !utf8.ValidString(out) || strings.ContainsAny(out, "\\;\x00\x7f") {
			t.Fatalf("NormalizePath(%q) = %q holds a rejected byte", raw, out)
		}
		for i := 0; i+2 < len(out); i++ {
			if out[i] == '%' && isHex(out[i+1]) && isHex(out[i+2]) {
				t.Fatalf("NormalizePath(%q) = %q keeps a double-encoded byte", raw, out)
			}
		}
		if !strings.Contains(raw, "%") && out != path.Clean(raw) {
			t.Fatalf("NormalizePath(%q) = %q, path.Clean gives %q", raw, out, path.Clean(raw))
		}
	})
}
