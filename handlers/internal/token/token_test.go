package token

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func req(query string, kv ...string) *pipeline.Request {
	r := &pipeline.Request{Header: pipeline.Header{}, RawQuery: query}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return r
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name      string
		from      *From
		r         *pipeline.Request
		want      string
		ambiguous bool
	}{
		{"nil from reads the bearer header", nil, req("", "Authorization", "Bearer abc.def.ghi"), "abc.def.ghi", false},
		{"zero from reads the bearer header", &From{}, req("", "authorization", "Bearer tok"), "tok", false},
		{"bearer scheme is case-insensitive", nil, req("", "authorization", "bEaReR tok"), "tok", false},
		{"no authorization header is no token", nil, req(""), "", false},
		{"basic scheme is not a bearer token", nil, req("", "authorization", "Basic dXNlcjpwdw=="), "", false},
		{"scheme prefix without separator is not bearer", nil, req("", "authorization", "Bearertok"), "", false},
		{"bearer without token is no token", nil, req("", "authorization", "Bearer "), "", false},
		{"two authorization values are ambiguous", nil, req("", "authorization", "Bearer SECRETA", "authorization", "Bearer SECRETB"), "", true},
		{"envoy comma-joined bearer values are ambiguous", nil, req("", "authorization", "Bearer SECRETA,Bearer SECRETB"), "", true},
		{"comma-joined basic and bearer are ambiguous", nil, req("", "authorization", "Basic SECRETX, Bearer SECRETB"), "", true},
		{"comma-joined non-bearer values are no token", nil, req("", "authorization", "Basic x,Digest y"), "", false},
		{"bearer header plus access_token query is ambiguous", nil, req("access_token=SECRETB", "authorization", "Bearer SECRETA"), "", true},
		{"unrelated query does not disturb the header", nil, req("x=access_tokens", "authorization", "Bearer a"), "a", false},
		{"header authorization uses bearer parsing", &From{Header: "Authorization"}, req("", "authorization", "Bearer tok"), "tok", false},
		{"custom header is the whole value", &From{Header: "X-Token"}, req("", "x-token", "Bearer tok"), "Bearer tok", false},
		{"custom header is not trimmed", &From{Header: "X-Token"}, req("", "x-token", " tok\t"), " tok\t", false},
		{"custom header missing is no token", &From{Header: "X-Token"}, req(""), "", false},
		{"custom header twice is ambiguous", &From{Header: "X-Token"}, req("", "x-token", "SECRETA", "x-token", "SECRETB"), "", true},
		{"custom header comma-joined is ambiguous", &From{Header: "X-Token"}, req("", "x-token", "SECRETA,SECRETB"), "", true},
		{"query parameter", &From{QueryParameter: "token"}, req("token=abc&x=1"), "abc", false},
		{"query parameter is case-sensitive", &From{QueryParameter: "token"}, req("Token=abc"), "", false},
		{"query parameter missing is no token", &From{QueryParameter: "token"}, req(""), "", false},
		{"empty query parameter is no token", &From{QueryParameter: "token"}, req("token="), "", false},
		{"repeated query parameter is ambiguous", &From{QueryParameter: "token"}, req("token=SECRETA&token=SECRETB"), "", true},
		{"query parameter survives a malformed pair", &From{QueryParameter: "token"}, req("a=%zz&token=abc"), "abc", false},
		{"query parameter plus bearer header is ambiguous", &From{QueryParameter: "token"}, req("token=SECRETA", "authorization", "Bearer SECRETB"), "", true},
		{"query parameter plus basic header is fine", &From{QueryParameter: "token"}, req("token=a", "authorization", "Basic b"), "a", false},
		{"cookie", &From{Cookie: "jwt"}, req("", "cookie", "a=1; jwt=tok; b=2"), "tok", false},
		{"cookie across two cookie headers", &From{Cookie: "jwt"}, req("", "cookie", "a=1", "cookie", "jwt=tok"), "tok", false},
		{"cookie missing is no token", &From{Cookie: "jwt"}, req("", "cookie", "a=1"), "", false},
		{"no cookie header is no token", &From{Cookie: "jwt"}, req(""), "", false},
		{"cookie name is case-sensitive", &From{Cookie: "jwt"}, req("", "cookie", "JWT=tok"), "", false},
		{"repeated cookie is ambiguous", &From{Cookie: "jwt"}, req("", "cookie", "jwt=SECRETA; jwt=SECRETB"), "", true},
		{"cookie plus bearer header is ambiguous", &From{Cookie: "jwt"}, req("", "cookie", "jwt=SECRETA", "authorization", "Bearer SECRETB"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.from.Extract(tt.r)
			if tt.ambiguous {
				var pe *pipeline.Error
				if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || pe.ID != ReasonAmbiguous || !errors.Is(err, ErrAmbiguous) {
					t.Fatalf("Extract err = %v, want 401 %s", err, ReasonAmbiguous)
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Fatalf("error %q leaks the credential", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Extract err = %v", err)
			}
			if got != tt.want {
				t.Fatalf("Extract = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBearerRule pins the one Authorization rule every authenticator
// shares: scheme up to the first space, matched case-insensitively, and the
// rest of the value as the credential, untrimmed.
func TestBearerRule(t *testing.T) {
	tests := []struct {
		name, header, want string
	}{
		{"one space", "Bearer tok", "tok"},
		{"scheme in lower case", "bearer tok", "tok"},
		{"scheme in mixed case", "BeArEr tok", "tok"},
		{"inner spaces are kept", "Bearer correct token", "correct token"},
		{"two spaces keep the second", "Bearer  tok", " tok"},
		{"trailing space is kept", "Bearer tok ", "tok "},
		{"trailing tab is kept", "Bearer tok\t", "tok\t"},
		{"only spaces after the scheme", "Bearer   ", "  "},
		{"tab is not the separator", "Bearer\ttok", ""},
		{"space then tab keeps the tab", "Bearer \ttok", "\ttok"},
		{"scheme alone", "Bearer", ""},
		{"scheme and one space", "Bearer ", ""},
		{"leading space hides the scheme", " Bearer tok", ""},
		{"no separator", "Bearertok", ""},
		{"another scheme", "Token tok", ""},
		{"bearer as credential of another scheme", "Basic Bearer tok", ""},
		{"scheme must be whole", "Bearer2 tok", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, from := range []*From{nil, {}, {Header: "authorization"}, {Header: "AUTHORIZATION"}} {
				got, err := from.Extract(req("", "authorization", tt.header))
				if err != nil || got != tt.want {
					t.Fatalf("Extract(%q) with %+v = %q, %v; want %q", tt.header, from, got, err, tt.want)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		from    *From
		wantErr string
	}{
		{"nil is the default", nil, ""},
		{"zero is the default", &From{}, ""},
		{"one header", &From{Header: "X-Token"}, ""},
		{"one query parameter", &From{QueryParameter: "t"}, ""},
		{"one cookie", &From{Cookie: "c"}, ""},
		{"two locations", &From{Header: "X", Cookie: "c"}, "only one of"},
		{"three locations", &From{Header: "X", Cookie: "c", QueryParameter: "q"}, "only one of"},
		{"bad header name", &From{Header: "X Token"}, "invalid header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.from.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLocation(t *testing.T) {
	tests := []struct {
		name string
		from *From
		want string
	}{
		{"default", nil, `header "Authorization" (Bearer)`},
		{"authorization header", &From{Header: "authorization"}, `header "Authorization" (Bearer)`},
		{"custom header", &From{Header: "X-Token"}, `header "X-Token"`},
		{"query", &From{QueryParameter: "t"}, `query parameter "t"`},
		{"cookie", &From{Cookie: "c"}, `cookie "c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.from.Location(); got != tt.want {
				t.Fatalf("Location = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkExtractBearer(b *testing.B) {
	r := req("", "authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln")
	var f *From
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Extract(r); err != nil {
			b.Fatal(err)
		}
	}
}
