package match

import (
	"slices"
	"testing"
)

// The builder lays entries out grouped by directory, directories in the
// order they first came and entries in insertion order within each, and
// walk finds exactly the entries whose literal prefix starts the path.
func TestPathIndexBuild(t *testing.T) {
	var b pathIndexBuilder
	for i, lit := range []string{"/b/x", "/a/", "/b/", "v", "/a/y", "/a/b/c", "/b/x"} {
		b.insert(lit, i)
	}
	x := b.build()
	wantEntries := []pathEntry{{"x", 0}, {"", 2}, {"x", 6}, {"", 1}, {"y", 4}, {"c", 5}}
	if !slices.Equal(x.entries, wantEntries) {
		t.Errorf("entries %v, want %v", x.entries, wantEntries)
	}
	wantDirs := map[string]pathSpan{"/b/": {0, 3}, "/a/": {3, 5}, "/a/b/": {5, 6}}
	if len(x.dirs) != len(wantDirs) || x.depth != 3 || !slices.Equal(x.root, []pathEntry{{"v", 3}}) {
		t.Errorf("dirs %v depth %d root %v, want %v, 3, [{v 3}]", x.dirs, x.depth, x.root, wantDirs)
	}
	for dir, sp := range wantDirs {
		if x.dirs[dir] != sp {
			t.Errorf("dirs[%q] = %v, want %v", dir, x.dirs[dir], sp)
		}
	}
	tests := []struct {
		path string
		want []int
	}{
		{"/b/xy", []int{0, 2, 6}},
		{"/a/b/cd", []int{1, 5}},
		{"/a/yes", []int{1, 4}},
		{"vv", []int{3}},
		{"/c/x", nil},
	}
	for _, tt := range tests {
		var got []int
		x.walk(tt.path, func(e int) bool { got = append(got, e); return true })
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("walk(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
