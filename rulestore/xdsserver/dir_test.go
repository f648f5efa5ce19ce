package xdsserver_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	errjson "github.com/portcullis-authz/portcullis/handlers/errors/json"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/xdsserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 20 * time.Second

// validate compiles a set as a node with anonymous, allow, noop and json
// would.
func validate(specs []pipeline.RuleSpec) error {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterErrorHandler(r, "json", errjson.New)
	on := map[string]pipeline.HandlerConfig{"anonymous": {Enabled: true}, "allow": {Enabled: true}, "noop": {Enabled: true}, "json": {Enabled: true}}
	snap, err := pipeline.Compile(specs, pipeline.Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}, r)
	if err != nil {
		return err
	}
	snap.Close()
	return nil
}

func ruleYAML(ids ...string) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString("- id: " + id + "\n  match: {url: \"https://api.test/" + id + "\", methods: [GET]}\n" +
			"  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n")
	}
	return b.String()
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(path), ".tmp~")
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func ruleIDs(s xdsserver.Set) string {
	var ids []string
	for _, r := range s.Rules {
		ids = append(ids, r.GetId())
	}
	return strings.Join(ids, ",")
}

func TestDirLoadsDefaultAndClusterSets(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), ruleYAML("a"))
	write(t, filepath.Join(dir, "edge", "b.json"), `[{"id": "b", "match": {"url": "https://api.test/b", "methods": ["GET"]},
		"authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "allow"}, "mutators": [{"handler": "noop"}]}]`)
	write(t, filepath.Join(dir, "..data", "ignored.yaml"), "not: [rules")
	def, clusters, err := xdsserver.NewDir(dir, validate, xdsserver.DirOptions{}).Load()
	if err != nil {
		t.Fatal(err)
	}
	if ruleIDs(def) != "a" || len(clusters) != 1 || ruleIDs(clusters["edge"]) != "a,b" {
		t.Fatalf("default %s, clusters %v", ruleIDs(def), clusters)
	}
	if def.Version == "" || def.Version == clusters["edge"].Version {
		t.Fatalf("versions %q and %q", def.Version, clusters["edge"].Version)
	}
	again, _, err := xdsserver.NewDir(dir, validate, xdsserver.DirOptions{}).Load()
	if err != nil || again.Version != def.Version {
		t.Fatalf("the same files gave version %q, then %q (%v)", def.Version, again.Version, err)
	}
}

func TestDirLoadReportsEveryBadSet(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), strings.ReplaceAll(ruleYAML("a"), "allow", "deny"))
	write(t, filepath.Join(dir, "edge", "b.yaml"), strings.ReplaceAll(ruleYAML("b"), "anonymous", "jwt"))
	_, _, err := xdsserver.NewDir(dir, validate, xdsserver.DirOptions{}).Load()
	if err == nil {
		t.Fatal("bad files loaded")
	}
	if n := len(rulestore.ErrorLines(err)); n != 2 {
		t.Errorf("%d error lines, want 2 (each once):\n%v", n, err)
	}
	for _, want := range []string{filepath.Join(dir, "a.yaml") + `:1: rules[0] (id "a"): authorizer (deny)`,
		filepath.Join(dir, "edge", "b.yaml") + `:1: rules[0] (id "b"): authenticators[0] (jwt)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// watched runs a Dir over dir and reports its publishes and scans.
type watched struct {
	published chan map[string]string // cluster ("" default) → rule ids
	scans     chan error
}

func runDir(t *testing.T, dir string) *watched {
	t.Helper()
	w := &watched{published: make(chan map[string]string, 100), scans: make(chan error, 100)}
	d := xdsserver.NewDir(dir, validate, xdsserver.DirOptions{Debounce: 10 * time.Millisecond, Log: zaptest.NewLogger(t),
		OnScan: func(err error) { w.scans <- err }})
	if _, _, err := d.Load(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, func(_ context.Context, def xdsserver.Set, clusters map[string]xdsserver.Set) error {
			got := map[string]string{"": ruleIDs(def)}
			for c, s := range clusters {
				got[c] = ruleIDs(s)
			}
			w.published <- got
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	w.scan(t) // the watches are in place
	return w
}

func (w *watched) scan(t *testing.T) error {
	t.Helper()
	select {
	case err := <-w.scans:
		return err
	case <-time.After(wait):
		t.Fatal("no scan")
	}
	return nil
}

// publish waits for the next publish.
func (w *watched) publish(t *testing.T) map[string]string {
	t.Helper()
	select {
	case p := <-w.published:
		return p
	case <-time.After(wait):
		t.Fatal("nothing published")
	}
	return nil
}

func TestDirPublishesChangesAndHoldsBadOnes(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), ruleYAML("a"))
	w := runDir(t, dir)

	write(t, filepath.Join(dir, "a.yaml"), ruleYAML("a", "a2"))
	if got := w.publish(t); got[""] != "a,a2" {
		t.Fatalf("published %v", got)
	}

	// A bad file: reported, nothing published.
	write(t, filepath.Join(dir, "c.yaml"), strings.ReplaceAll(ruleYAML("c"), "allow", "deny"))
	var err error
	for err == nil {
		err = w.scan(t)
	}
	if !strings.Contains(err.Error(), `(id "c"): authorizer (deny)`) {
		t.Fatalf("scan error %v", err)
	}
	select {
	case p := <-w.published:
		t.Fatalf("a bad set was published: %v", p)
	default:
	}

	write(t, filepath.Join(dir, "c.yaml"), ruleYAML("c"))
	if got := w.publish(t); got[""] != "a,a2,c" {
		t.Fatalf("published %v", got)
	}
}

func TestDirPicksUpNewClusterFolders(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), ruleYAML("a"))
	w := runDir(t, dir)

	// Made elsewhere and moved in whole, as tools do.
	staged := filepath.Join(t.TempDir(), "edge")
	write(t, filepath.Join(staged, "e.yaml"), ruleYAML("e"))
	if err := os.Rename(staged, filepath.Join(dir, "edge")); err != nil {
		t.Fatal(err)
	}
	if got := w.publish(t); got["edge"] != "a,e" || got[""] != "a" {
		t.Fatalf("published %v", got)
	}
	// The new folder is watched too.
	write(t, filepath.Join(dir, "edge", "e.yaml"), ruleYAML("e", "e2"))
	if got := w.publish(t); got["edge"] != "a,e,e2" {
		t.Fatalf("published %v", got)
	}
	// Removing a folder is two steps, as os.RemoveAll does them: its
	// files, then the folder. The watcher may read the folder in between,
	// so each step is awaited: an emptied folder is still a cluster, with
	// the default rules only.
	if err := os.Remove(filepath.Join(dir, "edge", "e.yaml")); err != nil {
		t.Fatal(err)
	}
	if got := w.publish(t); len(got) != 2 || got[""] != "a" || got["edge"] != "a" {
		t.Fatalf("published %v", got)
	}
	if err := os.Remove(filepath.Join(dir, "edge")); err != nil {
		t.Fatal(err)
	}
	if got := w.publish(t); len(got) != 1 || got[""] != "a" {
		t.Fatalf("published %v", got)
	}
}
