package rulestore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// fakeSource publishes what the test sends it and reports the error
// publish returned.
type fakeSource struct {
	sets chan rulestore.Set
	errs chan error
}

func newFake() *fakeSource {
	return &fakeSource{sets: make(chan rulestore.Set), errs: make(chan error)}
}

func (f *fakeSource) Run(ctx context.Context, publish func(rulestore.Set) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-f.sets:
			f.errs <- publish(s)
		}
	}
}

// deliver makes f publish a set of rules with ids, and returns publish's
// error.
func (f *fakeSource) deliver(t *testing.T, version string, ids ...string) error {
	t.Helper()
	var specs []pipeline.RuleSpec
	for _, id := range ids {
		doc := strings.Replace(ruleDoc("allow"), `"r1"`, `"`+id+`"`, 1)
		doc = strings.Replace(doc, "http://h/<.*>", "http://h/"+id, 1)
		got, err := rulestore.DecodeRules(id+".json", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, got...)
	}
	select {
	case f.sets <- rulestore.Set{Specs: specs, Version: version}:
	case <-time.After(10 * time.Second):
		t.Fatal("source not running")
	}
	return <-f.errs
}

func ruleIDs(s *rulestore.Store) string {
	if s.Current() == nil {
		return "(none)"
	}
	var ids []string
	for _, r := range s.Current().Rules() {
		ids = append(ids, r.ID)
	}
	return strings.Join(ids, ",")
}

func TestCombinedSources(t *testing.T) {
	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	a, b := newFake(), newFake()
	c := rulestore.Combine(
		rulestore.Part{Name: "file:///rules", Source: a, Initial: &rulestore.Set{}},
		rulestore.Part{Name: "https://rules.test/b.json", Source: b})
	if _, ok, _ := c.Current(); ok {
		t.Fatal("combined set before every part delivered one")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Run(ctx, store.Publish) }()
	defer func() { cancel(); wg.Wait() }()

	if err := a.deliver(t, "a1", "a"); err != nil || store.Current() != nil {
		t.Fatalf("err %v: a part alone was published", err)
	}
	if err := b.deliver(t, "b1", "b"); err != nil || ruleIDs(store) != "a,b" {
		t.Fatalf("err %v, rules %q: want a,b", err, ruleIDs(store))
	}
	v1 := store.Status().Version

	// A duplicate id across parts is rejected naming both, and the part
	// keeps its previous set: a later change elsewhere combines with it.
	err := b.deliver(t, "b2", "b", "a")
	if err == nil || !strings.Contains(err.Error(), `rule id "a"`) ||
		!strings.Contains(err.Error(), "file:///rules") || !strings.Contains(err.Error(), "https://rules.test/b.json") {
		t.Fatalf("err = %v", err)
	}
	if ruleIDs(store) != "a,b" || store.Status().Version != v1 {
		t.Fatalf("rules %q after a rejected set", ruleIDs(store))
	}
	if err := a.deliver(t, "a2", "a", "c"); err != nil || ruleIDs(store) != "a,c,b" {
		t.Fatalf("err %v, rules %q: want a,c,b", err, ruleIDs(store))
	}
	if store.Status().Version == v1 {
		t.Fatal("the combined version did not change")
	}
}

// TestCombinedSinglePartKeepsItsVersion: with one repository the version
// in force is the source's own (an xds snapshot version stays readable).
func TestCombinedSinglePartKeepsItsVersion(t *testing.T) {
	c := rulestore.Combine(rulestore.Part{Name: "xds://cp:18000", Source: newFake(), Initial: &rulestore.Set{Version: "v7"}})
	if s, ok, err := c.Current(); !ok || err != nil || s.Version != "v7" {
		t.Fatalf("%+v %v %v", s, ok, err)
	}
}
