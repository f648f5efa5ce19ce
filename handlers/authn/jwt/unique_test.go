package jwt

import (
	"fmt"
	"strings"
	"testing"
)

func TestUniqueMembers(t *testing.T) {
	many := func(dup bool) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range 100 {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		if dup {
			b.WriteString(`"k7":0`)
		} else {
			b.WriteString(`"last":0`)
		}
		b.WriteString("}")
		return b.String()
	}
	tests := []struct {
		name, doc string
		want      bool
	}{
		{"flat unique", `{"a":1,"b":"x","c":true,"d":null}`, true},
		{"flat duplicate", `{"a":1,"a":2}`, false},
		{"duplicate after whitespace", "{ \"a\" : 1 ,\n \"a\" : 2 }", false},
		{"duplicate via escape", `{"sub":"a","s\u0075b":"b"}`, false},
		{"escaped quote in a name is distinct", `{"a\"b":1,"a":2}`, true},
		{"same name in sibling objects is fine", `{"x":{"a":1},"y":{"a":2}}`, true},
		{"duplicate in a nested object", `{"x":{"a":1,"a":2}}`, false},
		{"duplicate inside an array element", `{"x":[1,{"a":1,"a":2}]}`, false},
		{"strings with braces and escapes", `{"a":"}\",{","b":"\\"}`, true},
		{"numbers and exponents", `{"a":-1.5e+3,"b":[1e400,2]}`, true},
		{"many members unique", many(false), true},
		{"many members with a duplicate", many(true), false},
		{"empty object and array", `{"a":{},"b":[]}`, true},
		{"invalid json does not loop", `{"a":[1}`, false},
		{"invalid member name does not loop", `{1:2}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uniqueMembers([]byte(tt.doc)); got != tt.want {
				t.Fatalf("uniqueMembers(%s) = %v, want %v", tt.doc, got, tt.want)
			}
		})
	}
}
