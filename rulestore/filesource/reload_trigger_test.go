package filesource_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// TestReloadTriggerReadsWhatTheWatcherCannotSee: the rule file is a
// symlink to a file in another directory, so editing the target sends no
// event to the watched directory. A receive on Reload (SIGHUP) reads it.
func TestReloadTriggerReadsWhatTheWatcherCannotSee(t *testing.T) {
	watched, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "rules.json")
	if err := os.WriteFile(target, []byte(ruleDoc("allow")), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(watched, "rules.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	src, err := filesource.New([]string{"file://" + link}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, version, err := src.Load()
	if err != nil || store.Apply(specs, version) != nil {
		t.Fatal(err)
	}
	reload := make(chan struct{})
	published := make(chan string, 4)
	watching := make(chan struct{})
	src.Applied = version
	src.Reload, src.OnWatching = reload, func() { close(watching) }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = src.Run(ctx, func(set rulestore.Set) error {
			err := store.Publish(set)
			if err == nil {
				published <- set.Version
			}
			return err
		})
	}()
	defer func() { cancel(); wg.Wait() }()
	<-watching

	if err := os.WriteFile(target, []byte(ruleDoc("deny")), 0o644); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	select {
	case v := <-published:
		if v == version || decide(t, store) != 403 {
			t.Fatalf("version %s (was %s), decision %d after the triggered reload", v, version, decide(t, store))
		}
	case <-time.After(time.Minute):
		t.Fatal("the triggered reload published nothing")
	}
}
