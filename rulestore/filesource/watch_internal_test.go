package filesource

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// vanishingWatcher is an fsnotify watcher whose directories in gone are
// removed just before each is added, as a cluster folder removed between
// Run's look at it and its watch is.
type vanishingWatcher struct {
	gone  map[string]bool
	added []string
}

func (w *vanishingWatcher) Add(dir string) error {
	if w.gone[dir] {
		return fmt.Errorf("add watch: %w", fs.ErrNotExist)
	}
	w.added = append(w.added, dir)
	return nil
}

// A repository directory removed between the look and the watch is
// watched through its parent, as a missing one is; Run does not fail.
func TestWatchRepoFallsBackToTheParent(t *testing.T) {
	root := t.TempDir()
	folder := filepath.Join(root, "edge")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "rules.yaml")
	if err := os.WriteFile(file, []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		gone    []string
		want    []string
		wantErr bool
	}{
		{"a directory", folder, nil, []string{folder}, false},
		{"a file", file, nil, []string{root}, false},
		{"a missing directory", filepath.Join(root, "later"), nil, []string{root}, false},
		{"a directory removed before its watch", folder, []string{folder}, []string{root}, false},
		{"its parent removed too", folder, []string{folder, root}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &vanishingWatcher{gone: map[string]bool{}}
			for _, d := range tt.gone {
				w.gone[d] = true
			}
			dirs := map[string]bool{}
			err := watchRepo(w, tt.path, dirs)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			if !slices.Equal(w.added, tt.want) {
				t.Errorf("watched %v, want %v", w.added, tt.want)
			}
			// A second repository in a watched directory adds nothing.
			if err == nil {
				if err := watchRepo(w, tt.path, dirs); err != nil || len(w.added) != len(tt.want) {
					t.Errorf("watched again: %v, %v", w.added, err)
				}
			}
		})
	}
}
