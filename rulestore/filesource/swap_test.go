package filesource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// versionFiles are the files of version n of a rule directory: every
// rule id carries n, so a set mixing two versions is recognisable.
func versionFiles(n int) map[string]string {
	rule := func(id string) string {
		return fmt.Sprintf("- id: %s-%d\n  match: {url: 'http://h/%s', methods: [GET]}\n  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n", id, n, id)
	}
	return map[string]string{"a.yaml": rule("a"), "b.yaml": rule("b"), "c.yaml": rule("c")}
}

// atomicWriter updates dir as Kubernetes' atomic writer (ConfigMap and
// Secret volumes) does: the files go to a new hidden folder, a ..data_tmp
// symlink to it is renamed over ..data, and the old folder is removed.
// The visible names are symlinks through ..data, made once.
type atomicWriter struct {
	t   *testing.T
	dir string
	cur string
}

func (w *atomicWriter) write(n int) {
	folder := fmt.Sprintf("..v%d", n)
	must(w.t, os.Mkdir(filepath.Join(w.dir, folder), 0o755))
	files := versionFiles(n)
	for name, data := range files {
		must(w.t, os.WriteFile(filepath.Join(w.dir, folder, name), []byte(data), 0o644))
	}
	tmp := filepath.Join(w.dir, "..data_tmp")
	must(w.t, os.Symlink(folder, tmp))
	must(w.t, os.Rename(tmp, filepath.Join(w.dir, "..data")))
	if w.cur == "" {
		for name := range files {
			must(w.t, os.Symlink(filepath.Join("..data", name), filepath.Join(w.dir, name)))
		}
	} else {
		must(w.t, os.RemoveAll(filepath.Join(w.dir, w.cur)))
	}
	w.cur = folder
}

// consistent reports whether ids are exactly the rules of one written
// version.
func consistent(ids []string) bool {
	if len(ids) != 3 {
		return false
	}
	_, n, _ := strings.Cut(ids[0], "-")
	for _, id := range ids {
		if _, m, _ := strings.Cut(id, "-"); m != n {
			return false
		}
	}
	return true
}

// TestConfigMapSwapUnderLoadIsReadAsOneVersion: while ..data is swapped
// over and over, every set a load returns is one that was written (all
// three files of one version), never a mix of two or a set missing a
// file. Reading each file through ..data separately tears sets here.
func TestConfigMapSwapUnderLoadIsReadAsOneVersion(t *testing.T) {
	dir := t.TempDir()
	w := &atomicWriter{t: t, dir: dir}
	w.write(0)
	src, err := filesource.New([]string{"file://" + dir}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var swaps atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			w.write(n)
			swaps.Add(1)
		}
	}()
	versions := map[string]string{} // content version -> rule version
	loads, failed := 0, 0
	for loads < 300 || swaps.Load() < 50 {
		specs, version, err := src.Load()
		if err != nil {
			// A load that cannot finish is not published; each one starts
			// over a few times, so this stays rare.
			if failed++; failed > 300 {
				close(stop)
				wg.Wait()
				t.Fatalf("%d loads failed, %d succeeded; last: %v", failed, loads, err)
			}
			continue
		}
		loads++
		ids := make([]string, len(specs))
		for i, s := range specs {
			ids[i] = s.ID
		}
		if !consistent(ids) {
			close(stop)
			wg.Wait()
			t.Fatalf("load %d returned a set that was never written: %v", loads, ids)
		}
		// The version is of the content: the same rules have the same
		// version whichever folder they were read from.
		if prev, ok := versions[version]; ok && prev != ids[0] {
			t.Fatalf("version %s names two sets (%s, %s)", version, prev, ids[0])
		}
		versions[version] = ids[0]
	}
	close(stop)
	wg.Wait()
}

// TestConfigMapSwapKeepsVersionByContent: moving the same files into a
// new folder is no new version, so nothing is recompiled.
func TestConfigMapSwapKeepsVersionByContent(t *testing.T) {
	dir := t.TempDir()
	w := &atomicWriter{t: t, dir: dir}
	w.write(1)
	src, err := filesource.New([]string{"file://" + dir}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, v1, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	// Same content, new folder name.
	folder := "..again"
	must(t, os.Mkdir(filepath.Join(dir, folder), 0o755))
	for name, data := range versionFiles(1) {
		must(t, os.WriteFile(filepath.Join(dir, folder, name), []byte(data), 0o644))
	}
	must(t, os.Symlink(folder, filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	_, v2, err := src.Load()
	if err != nil || v1 != v2 {
		t.Fatalf("versions %s, %s (%v): want equal", v1, v2, err)
	}
}

// TestConstantChurnStillReloads: a file rewritten every 100ms never stays
// quiet for the debounce, yet the maximum wait publishes its changes while
// the churn goes on.
func TestConstantChurnStillReloads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	n := 0
	writeN := func() {
		n++
		write(t, file, versionFiles(n)["a.yaml"])
	}
	writeN()
	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	src, err := filesource.New([]string{"file://" + file}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A debounce five times the write interval: without a maximum wait
	// only a writer stalled for 500ms would let a reload through.
	src.Debounce, src.MaxWait = 500*time.Millisecond, time.Second
	specs, version, err := src.Load()
	if err != nil || store.Apply(specs, version) != nil {
		t.Fatal(err)
	}
	src.Applied = version
	published := make(chan string, 64)
	watching := make(chan struct{})
	src.OnWatching = func() { close(watching) }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = src.Run(ctx, func(set rulestore.Set) error {
			err := store.Publish(set)
			if err == nil {
				published <- set.Specs[0].ID
			}
			return err
		})
	}()
	defer func() { cancel(); wg.Wait() }()
	<-watching

	// Write every 100ms until two reloads happened during the churn (at
	// most 30s, far beyond the 1s maximum wait, for a loaded machine).
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	bound := time.After(30 * time.Second)
	var seen []string
	for len(seen) < 2 {
		select {
		case id := <-published:
			seen = append(seen, id)
		case <-tick.C:
			writeN()
		case <-bound:
			t.Fatalf("after %d writes every 100ms, %d reloads: want 2", n, len(seen))
		}
	}
	if seen[0] == seen[1] {
		t.Fatalf("reloads published the same set twice: %v", seen)
	}
}
