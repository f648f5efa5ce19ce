package remotecall

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

// TestD17DuplicateKeysAndTypeConfusion: a decision document that different
// JSON parsers would read differently is refused, wherever the duplicate
// is (SECURITY_CASES D-17).
func TestD17DuplicateKeysAndTypeConfusion(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"duplicate at the top", `{"result":{"allow":true},"result":{"allow":false}}`, `duplicate key "result"`},
		{"duplicate inside an array", `{"result":[{"allow":true,"allow":false}]}`, `duplicate key "allow"`},
		{"duplicate spelled with an escape", `{"result":{"allow":true,"\u0061llow":false}}`, `duplicate key "allow"`},
		{"same key in sibling objects is fine", `{"a":{"x":1},"b":{"x":2}}`, ""},
		{"nesting beyond the bound", strings.Repeat("[", maxJSONDepth+2) + strings.Repeat("]", maxJSONDepth+2), "nested too deeply"},
		{"unterminated object", `{"result":{"allow":true}`, "invalid JSON"},
		{"empty", ``, "empty body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckJSON([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
