package cachekey

import (
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	long := strings.Repeat("a", 16<<10)
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"both empty", "", "", true},
		{"same", "eyJ.a.b", "eyJ.a.b", true},
		{"same long", long, strings.Clone(long), true},
		{"differs in the last byte", long, long[:len(long)-1] + "b", false},
		{"differs in the first byte", "xbc", "abc", false},
		{"prefix", "abc", "ab", false},
		{"one empty", "", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
			if got := Equal(tt.b, tt.a); got != tt.want {
				t.Fatalf("Equal swapped = %v, want %v", got, tt.want)
			}
			if got := EqualBytes([]byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Fatalf("EqualBytes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEqualDoesNotAllocate(t *testing.T) {
	a, b := strings.Repeat("t", 1000), strings.Repeat("t", 1000)
	if n := testing.AllocsPerRun(100, func() { Equal(a, b) }); n != 0 {
		t.Fatalf("Equal allocates %v times", n)
	}
}
