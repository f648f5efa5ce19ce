package pipeline

import "testing"

// TestWhenContentTypeWildcards covers issue #10 item 3: content_type takes
// the same */* and type/* wildcards as accept, with Oathkeeper's reading
// of the request header (parameters dropped, a list split on commas,
// missing means application/octet-stream, wildcards in the request only
// match themselves).
func TestWhenContentTypeWildcards(t *testing.T) {
	tests := []struct {
		name        string
		want        []string
		contentType string // "" leaves the header out
		match       bool
	}{
		{"exact type", []string{"application/json"}, "application/json", true},
		{"parameters are dropped", []string{"application/json"}, "application/json; charset=utf-8", true},
		{"type wildcard", []string{"application/*"}, "application/json", true},
		{"type wildcard with parameters", []string{"text/*"}, "text/html; charset=utf-8", true},
		{"type wildcard other type", []string{"text/*"}, "application/json", false},
		{"type wildcard is not a prefix match on the type", []string{"app/*"}, "application/json", false},
		{"any type", []string{"*/*"}, "image/png", true},
		{"any type covers a missing header", []string{"*/*"}, "", true},
		{"missing header is octet-stream", []string{"application/octet-stream"}, "", true},
		{"missing header against a wildcard for another type", []string{"text/*"}, "", false},
		{"configured case does not matter", []string{"Application/JSON"}, "application/json", true},
		{"request case does not matter", []string{"application/json"}, "Application/Json", true},
		{"wildcard in the request is literal", []string{"application/json"}, "application/*", false},
		{"literal request wildcard matches itself", []string{"application/*"}, "application/*", true},
		{"list in the header", []string{"text/*"}, "application/json, text/plain", true},
		{"one of several configured", []string{"application/xml", "application/*"}, "application/json", true},
		{"no configured type matches", []string{"application/xml", "text/*"}, "application/json", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := When{{Request: &WhenRequest{Header: &WhenHeader{ContentType: append([]string(nil), tt.want...)}}}}
			if err := w.Validate(); err != nil {
				t.Fatal(err)
			}
			r := &Request{Header: Header{}}
			if tt.contentType != "" {
				r.Header["content-type"] = []string{tt.contentType}
			}
			if got := w.Match(r, ErrForbidden); got != tt.match {
				t.Fatalf("content_type %v against %q: match = %v, want %v", tt.want, tt.contentType, got, tt.match)
			}
		})
	}
}

// TestWhenAcceptAndContentTypeAreANDed checks that both header conditions
// must hold, each with wildcards.
func TestWhenAcceptAndContentTypeAreANDed(t *testing.T) {
	w := When{{Request: &WhenRequest{Header: &WhenHeader{ContentType: []string{"application/*"}, Accept: []string{"text/*"}}}}}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ct, accept string
		want       bool
	}{
		{"application/json", "text/html", true},
		{"application/json", "application/json", false},
		{"text/plain", "text/html", false},
	} {
		r := &Request{Header: Header{"content-type": {tt.ct}, "accept": {tt.accept}}}
		if got := w.Match(r, ErrUnauthorized); got != tt.want {
			t.Errorf("content-type %q, accept %q: match = %v, want %v", tt.ct, tt.accept, got, tt.want)
		}
	}
}
