package rulestore_test

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
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDecodeOathkeeperRuleFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/oathkeeper/*/*rules*")
	if len(files) < 8 {
		t.Fatalf("found only %d rule files", len(files))
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			specs, err := rulestore.DecodeRules(f, b)
			if err != nil {
				t.Fatal(err)
			}
			if len(specs) == 0 {
				t.Fatal("no rules decoded")
			}
			for i, s := range specs {
				if s.ID == "" || s.Source != f || s.Index != i {
					t.Errorf("rule %d: id %q source %q index %d", i, s.ID, s.Source, s.Index)
				}
			}
		})
	}
}

func TestDecodeErrorsNameFileRuleAndField(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"unknown key in rule", `[{"id":"a","authorizers":"nil","match":{"url":"x","methods":["GET"]}},{"id":"b","mach":{}}]`,
			`r.json: rules[1] (id "b"): unknown field "mach"`},
		{"wrong type", "- id: a\n  match:\n    url: 1\n    methods: GET\n", `r.json: rules[0] (id "a"): match.methods: cannot use string`},
		{"not an array", `{"id":"a"}`, "rules must be a JSON or YAML array"},
		{"bad yaml", "- id: [\n", "parse rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rulestore.DecodeRules("r.json", []byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := rulestore.DecodeRules("empty.yaml", []byte("\n# nothing\n")); err == nil || !strings.Contains(err.Error(), "empty.yaml: file is empty (write [] for a file without rules)") {
		t.Fatalf("empty file: %v", err)
	}
	if specs, err := rulestore.DecodeRules("none.yaml", []byte("[]")); err != nil || len(specs) != 0 {
		t.Fatalf("explicit empty list: %v %v", specs, err)
	}
}

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

func TestStoreKeepsLastGoodSnapshot(t *testing.T) {
	s := rulestore.NewStore(pipelineConfig(), registry(), nil)
	if s.Current() != nil {
		t.Fatal("snapshot before first apply")
	}
	good, _ := rulestore.DecodeRules("good.json", []byte(ruleDoc("allow")))
	if err := s.Apply(good, "v1"); err != nil {
		t.Fatal(err)
	}
	bad, _ := rulestore.DecodeRules("bad.json", []byte(ruleDoc("nosuch")))
	err := s.Apply(bad, "v2")
	if err == nil || !strings.Contains(err.Error(), `bad.json: rules[0] (id "r1"): authorizer (nosuch): unknown handler`) {
		t.Fatalf("err = %v", err)
	}
	st := s.Status()
	if decide(t, s) != 200 || s.Current().Version != "v1" || st.Failures != 1 || st.Reloads != 1 || st.LastError == "" {
		t.Fatalf("status %+v", st)
	}
}

// watch runs a FileSource against a store until the test ends.
func watch(t *testing.T, repos []string, store *rulestore.Store) {
	t.Helper()
	src, err := rulestore.NewFileSource(repos, nil, nil)
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
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = src.Run(ctx, version, store.Apply) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	time.Sleep(50 * time.Millisecond) // let the watcher register
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
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
	write(t, file, `[{"id":`)
	time.Sleep(100 * time.Millisecond)
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
	if _, err := rulestore.NewFileSource([]string{"https://example.test/rules.json", "ftp://x", "inline://%%%"}, nil, nil); err == nil ||
		!strings.Contains(err.Error(), "access_rules.repositories[0]") || !strings.Contains(err.Error(), "not implemented yet") ||
		!strings.Contains(err.Error(), `unsupported scheme "ftp"`) || !strings.Contains(err.Error(), "invalid base64") {
		t.Fatalf("err = %v", err)
	}
	// The reference config's inline repository decodes.
	src, err := rulestore.NewFileSource([]string{"inline://W3siaWQiOiJmb28tcnVsZSIsImF1dGhlbnRpY2F0b3JzIjpbXX1d"}, nil, nil)
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
