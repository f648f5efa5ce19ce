package scope

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Strategy
		wantErr bool
	}{
		{"empty defaults to none", "", None, false},
		{"none", "none", None, false},
		{"exact", "exact", Exact, false},
		{"hierarchic", "hierarchic", Hierarchic, false},
		{"wildcard", "wildcard", Wildcard, false},
		{"unknown is rejected", "regexp", "", true},
		{"case matters as in the schema enum", "Exact", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSatisfied(t *testing.T) {
	tests := []struct {
		name     string
		s        Strategy
		granted  []string
		required string
		want     bool
	}{
		{"exact grants the same scope", Exact, []string{"a", "b"}, "b", true},
		{"exact refuses a child scope", Exact, []string{"a"}, "a.b", false},
		{"exact refuses with nothing granted", Exact, nil, "a", false},
		{"exact is case sensitive", Exact, []string{"A"}, "a", false},
		{"hierarchic grants the same scope", Hierarchic, []string{"photos"}, "photos", true},
		{"hierarchic parent grants child", Hierarchic, []string{"photos"}, "photos.read", true},
		{"hierarchic parent grants grandchild", Hierarchic, []string{"a.b"}, "a.b.c", true},
		{"hierarchic child does not grant parent", Hierarchic, []string{"photos.read"}, "photos", false},
		{"hierarchic prefix is not a segment", Hierarchic, []string{"photo"}, "photos.read", false},
		{"hierarchic sibling does not grant", Hierarchic, []string{"a.b"}, "a.bc", false},
		{"hierarchic empty granted grants nothing", Hierarchic, []string{""}, ".x", false},
		{"wildcard star grants one segment", Wildcard, []string{"a.*"}, "a.b", true},
		{"wildcard trailing star grants deeper", Wildcard, []string{"a.*"}, "a.b.c", true},
		{"wildcard star in the middle", Wildcard, []string{"a.*.c"}, "a.x.c", true},
		{"wildcard middle star needs the rest to match", Wildcard, []string{"a.*.c"}, "a.x.d", false},
		{"wildcard star needs a non-empty segment", Wildcard, []string{"a.*"}, "a.", false},
		{"wildcard pattern longer than required", Wildcard, []string{"a.*"}, "a", false},
		{"wildcard shorter literal does not grant child", Wildcard, []string{"a"}, "a.b", false},
		{"wildcard literal equality", Wildcard, []string{"a.b"}, "a.b", true},
		{"wildcard lone star grants everything non-empty", Wildcard, []string{"*"}, "x.y", true},
		{"none never satisfies", None, []string{"a"}, "a", false},
		{"zero strategy never satisfies", "", []string{"a"}, "a", false},
		{"empty required is never satisfied", Exact, []string{""}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Satisfied(tt.granted, tt.required); got != tt.want {
				t.Fatalf("%q.Satisfied(%q, %q) = %v, want %v", tt.s, tt.granted, tt.required, got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name       string
		claims     map[string]any
		want       []string
		wantClaims map[string]any
	}{
		{"absent scope yields empty scp", map[string]any{"sub": "a"}, []string{},
			map[string]any{"sub": "a", "scp": []string{}}},
		{"scope string is split on spaces", map[string]any{"scope": "a b  c"}, []string{"a", "b", "c"},
			map[string]any{"scp": []string{"a", "b", "c"}}},
		{"scp array is kept and non-strings dropped", map[string]any{"scp": []any{"a", 1.0, "b"}}, []string{"a", "b"},
			map[string]any{"scp": []string{"a", "b"}}},
		{"scp wins over scope, which is left alone", map[string]any{"scp": "x", "scope": "y"}, []string{"x"},
			map[string]any{"scp": []string{"x"}, "scope": "y"}},
		{"scope wins over scopes", map[string]any{"scope": "y", "scopes": []any{"z"}}, []string{"y"},
			map[string]any{"scp": []string{"y"}, "scopes": []any{"z"}}},
		{"scopes array", map[string]any{"scopes": []string{"z", ""}}, []string{"z"},
			map[string]any{"scp": []string{"z"}}},
		{"wrong type yields empty", map[string]any{"scope": 42.0}, []string{},
			map[string]any{"scp": []string{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Normalize(tt.claims)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Normalize result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantClaims, tt.claims); diff != "" {
				t.Fatalf("claims after Normalize (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("nil map yields empty slice", func(t *testing.T) {
		if got := Normalize(nil); got == nil || len(got) != 0 {
			t.Fatalf("Normalize(nil) = %#v", got)
		}
	})
}
