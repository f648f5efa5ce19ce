package jwks

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr string
	}{
		{"https", "https://idp.test/.well-known/jwks.json", ""},
		{"http", "http://127.0.0.1:8080/jwks", ""},
		{"scheme is case-insensitive", "HTTPS://idp.test/jwks", ""},
		{"file absolute", "file:///etc/keys/jwks.json", ""},
		{"file relative as in oathkeeper", "file://./jwks.json", ""},
		{"s3 is not supported", "s3://bucket/jwks.json", "object storage is not supported"},
		{"gs is not supported", "gs://bucket/jwks.json", "object storage is not supported"},
		{"azblob is not supported", "azblob://c/jwks.json", "object storage is not supported"},
		{"typo scheme", "htp://idp.test/jwks", `unsupported scheme "htp"`},
		{"no scheme", "idp.test/jwks", "no scheme"},
		{"empty", "", "empty url"},
		{"http without host", "https:///jwks", "has no host"},
		{"credentials in url", "https://u:p@idp.test/jwks", "must not carry credentials"},
		{"file without path", "file://", "has no path"},
		{"unparsable", "https://idp.test/%zz", "invalid url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseURL(tt.raw)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseURL(%q) = %v", tt.raw, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseURL(%q) = %v, want %q", tt.raw, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "u:p") {
				t.Fatalf("error leaks credentials: %v", err)
			}
		})
	}
}

func TestFilePath(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"file:///etc/jwks.json", "/etc/jwks.json"},
		{"file://./jwks.json", "./jwks.json"},
		{"file://../x/jwks.json", "../x/jwks.json"},
		{"file://localhost/etc/jwks.json", "/etc/jwks.json"},
		{"file:jwks.json", "jwks.json"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := url.Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := FilePath(u); got != filepath.FromSlash(tt.want) {
				t.Fatalf("FilePath(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

func TestRedactDropsSecrets(t *testing.T) {
	u, _ := url.Parse("https://user:pw@idp.test/jwks?api_key=SECRET#frag")
	if got := Redact(u); got != "https://idp.test/jwks" {
		t.Fatalf("Redact = %q", got)
	}
}
