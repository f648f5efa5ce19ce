package filesource_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authn/noop"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	"github.com/portcullis-authz/portcullis/handlers/authz/deny"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func registry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
	pipeline.RegisterAuthenticator(r, "noop", noop.New)
	pipeline.RegisterAuthorizer(r, "allow", allow.New)
	pipeline.RegisterAuthorizer(r, "deny", deny.New)
	pipeline.RegisterMutator(r, "noop", mutnoop.New)
	pipeline.RegisterErrorHandler(r, "json", func(struct{}) (pipeline.ErrorHandler, error) {
		return pipeline.ErrorHandlerFunc(func(_ context.Context, _ *pipeline.Request, err error) (pipeline.Denial, error) {
			return pipeline.Denial{Status: pipeline.StatusOf(err)}, nil
		}), nil
	})
	return r
}

func pipelineConfig() pipeline.Config {
	on := map[string]pipeline.HandlerConfig{"anonymous": {Enabled: true}, "noop": {Enabled: true}, "allow": {Enabled: true}, "deny": {Enabled: true}, "json": {Enabled: true}}
	return pipeline.Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}
}

func ruleDoc(authorizer string) string {
	return `[{"id":"r1","match":{"url":"http://h/<.*>","methods":["GET"]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"` +
		authorizer + `"},"mutators":[{"handler":"noop"}]}]`
}

func decide(t *testing.T, s *rulestore.Store) int {
	t.Helper()
	d := s.Current().Execute(context.Background(), &pipeline.Request{Method: "GET", Scheme: "http", Host: "h", RawPath: "/x", Header: pipeline.Header{}})
	if d.Allowed {
		return 200
	}
	return d.Denial.Status
}

// watch runs a FileSource against a store until the test ends.
func watch(t *testing.T, repos []string, store *rulestore.Store) {
	t.Helper()
	src, err := filesource.New(repos, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Debounce = 20 * time.Millisecond
	src.OnError = store.RecordFailure
	specs, version, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(specs, version); err != nil {
		t.Fatal(err)
	}
	watching := make(chan struct{})
	src.OnWatching = func() { close(watching) }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		src.Applied = version
		_ = src.Run(ctx, store.Publish)
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-watching
}

// waitFor polls cond until it holds: the reload it waits for happens on
// the source's goroutine. It gives up only shortly before the test
// binary's -timeout, so that a busy machine cannot fail it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-10 * time.Second)
	}
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFileReloadAppliesGoodAndRejectsBad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.json")
	write(t, file, ruleDoc("allow"))
	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	watch(t, []string{"file://" + file}, store)
	if decide(t, store) != 200 {
		t.Fatal("initial rules not in force")
	}
	write(t, file, ruleDoc("deny"))
	waitFor(t, "deny rules", func() bool { return decide(t, store) == 403 })

	write(t, file, ruleDoc("nosuch"))
	waitFor(t, "rejection", func() bool { return strings.Contains(store.Status().LastError, "unknown handler") })
	if decide(t, store) != 403 {
		t.Fatal("invalid file replaced the last good rules")
	}
	failures := store.Status().Failures
	write(t, file, `[{"id":`)
	waitFor(t, "rejection of the unparsable file", func() bool { return store.Status().Failures > failures })
	if decide(t, store) != 403 {
		t.Fatal("unparsable file replaced the last good rules")
	}
	// SECURITY_CASES E-13: an emptied file, or an empty rule set, does not
	// replace the rules in force.
	for _, doc := range []string{"", "[]"} {
		failures := store.Status().Failures
		write(t, file, doc)
		waitFor(t, "rejection of "+doc, func() bool { return store.Status().Failures > failures })
		if decide(t, store) != 403 {
			t.Fatalf("%q replaced the last good rules", doc)
		}
	}
	write(t, file, ruleDoc("allow"))
	waitFor(t, "recovery", func() bool { return decide(t, store) == 200 })
}

func TestDirectoryRepository(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.json"), ruleDoc("allow"))
	write(t, filepath.Join(dir, "notes.txt"), "not rules")
	write(t, filepath.Join(dir, ".hidden.json"), "garbage")
	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	watch(t, []string{"file://" + dir}, store)
	if n := len(store.Current().Rules()); n != 1 {
		t.Fatalf("%d rules", n)
	}
	write(t, filepath.Join(dir, "b.yml"), "- id: r2\n  match: {url: 'http://h/other', methods: [GET]}\n  authenticators: [{handler: noop}]\n  authorizer: {handler: allow}\n  mutators: [{handler: noop}]\n")
	waitFor(t, "second file", func() bool { return len(store.Current().Rules()) == 2 })
}

// Kubernetes mounts a ConfigMap as name -> ..data/name, with ..data a
// symlink to a timestamped folder that is swapped atomically on update.
func TestConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "..v1"), filepath.Join(dir, "..v2")
	must(t, os.Mkdir(v1, 0o755))
	must(t, os.Mkdir(v2, 0o755))
	write(t, filepath.Join(v1, "rules.json"), ruleDoc("allow"))
	write(t, filepath.Join(v2, "rules.json"), ruleDoc("deny"))
	must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/rules.json", filepath.Join(dir, "rules.json")))

	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	watch(t, []string{"file://" + filepath.Join(dir, "rules.json")}, store)
	if decide(t, store) != 200 {
		t.Fatal("initial rules not in force")
	}
	must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	waitFor(t, "swapped rules", func() bool { return decide(t, store) == 403 })
}

func TestRepositoryURLs(t *testing.T) {
	if _, err := filesource.New([]string{"s3://bucket/rules.json", "ftp://x", "inline://%%%"}, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "access_rules.repositories[0]") || !strings.Contains(err.Error(), "not implemented yet") ||
		!strings.Contains(err.Error(), `unsupported scheme "ftp"`) || !strings.Contains(err.Error(), "invalid base64") {
		t.Fatalf("err = %v", err)
	}
	// The reference config's inline repository decodes.
	src, err := filesource.New([]string{"inline://W3siaWQiOiJmb28tcnVsZSIsImF1dGhlbnRpY2F0b3JzIjpbXX1d"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, _, err := src.Load()
	if err != nil || len(specs) != 1 || specs[0].ID != "foo-rule" {
		t.Fatalf("inline: %v %v", specs, err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	// Write then rename, as editors and config managers do.
	tmp := path + ".tmp~"
	must(t, os.WriteFile(tmp, []byte(data), 0o644))
	must(t, os.Rename(tmp, path))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
