package session

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckJSONRejectsAmbiguousDocuments(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr bool
		dup     bool
	}{
		{name: "plain object", doc: `{"subject":"alice","extra":{"a":1}}`},
		{name: "same key in sibling objects is fine", doc: `[{"id":1},{"id":2}]`},
		{name: "same key at different depths is fine", doc: `{"id":1,"x":{"id":2}}`},
		{name: "scalar document", doc: `"alice"`},
		{name: "whitespace around value", doc: " \n{\"a\":[1,2,{\"b\":null}]}\t"},
		{name: "string value equal to a key", doc: `{"a":"a","b":"a"}`},
		{name: "top-level duplicate", doc: `{"active":true,"active":false}`, wantErr: true, dup: true},
		{name: "nested duplicate", doc: `{"identity":{"id":"alice","id":"admin"}}`, wantErr: true, dup: true},
		{name: "duplicate object members", doc: `{"identity":{"id":"alice"},"identity":{"id":"admin"}}`, wantErr: true, dup: true},
		{name: "duplicate through escape", doc: `{"sub":"a","\u0073ub":"b"}`, wantErr: true, dup: true},
		{name: "duplicate after nested array", doc: `{"a":[{"x":1}],"b":2,"a":3}`, wantErr: true, dup: true},
		{name: "trailing data", doc: `{"a":1} {"a":2}`, wantErr: true},
		{name: "truncated", doc: `{"a":`, wantErr: true},
		{name: "not json", doc: `hello`, wantErr: true},
		{name: "empty", doc: ``, wantErr: true},
		{name: "nesting too deep", doc: strings.Repeat("[", 600) + strings.Repeat("]", 600), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckJSON([]byte(tt.doc))
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckJSON(%q) = %v, want error %v", tt.doc, err, tt.wantErr)
			}
			if errors.Is(err, ErrDuplicateKey) != tt.dup {
				t.Fatalf("duplicate = %v, want %v (%v)", errors.Is(err, ErrDuplicateKey), tt.dup, err)
			}
		})
	}
}

func TestCheckJSONErrorQuotesNoContent(t *testing.T) {
	err := CheckJSON([]byte(`{"token":"s3cr3t-value" x}`))
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v", err)
	}
}
