package filesource_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/filesource"
)

// event is what one reload did: "published", "failed" or "unchanged".
type event struct{ kind, detail string }

// runSource runs a real FileSource against store and reports every reload
// on one channel, in order, so a test waits on events instead of sleeping.
func runSource(t *testing.T, file string, store *rulestore.Store, log *zap.Logger) <-chan event {
	t.Helper()
	src, err := filesource.New([]string{"file://" + file}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan event, 64)
	src.Debounce = 10 * time.Millisecond
	src.OnError = func(err error) { store.RecordFailure(err); events <- event{"failed", err.Error()} }
	src.OnUnchanged = func(v string) { store.Unchanged(v); events <- event{"unchanged", v} }
	publish := func(set rulestore.Set) error {
		err := store.Publish(set)
		v := set.Version
		if err != nil {
			events <- event{"failed", err.Error()}
		} else {
			events <- event{"published", v}
		}
		return err
	}
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
	src.Applied = version
	go func() { defer wg.Done(); _ = src.Run(ctx, publish) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-watching
	return events
}

// until reads events up to the first of the given kind and returns it with
// the ones skipped. Editors' write-then-rename produces several file
// events, so a change may take more than one reload. The deadline only
// bounds a broken test; it never decides an outcome.
func until(t *testing.T, events <-chan event, kind string) (event, []event) {
	t.Helper()
	var skipped []event
	for {
		select {
		case e := <-events:
			if e.kind == kind {
				return e, skipped
			}
			skipped = append(skipped, e)
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event (saw %v)", kind, skipped)
		}
	}
}

type debugRules struct {
	Version string
	Status  rulestore.Status
}

func getDebugRules(t *testing.T, srv *httptest.Server) debugRules {
	t.Helper()
	resp, err := http.Get(srv.URL + "/debug/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out debugRules
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func scrape(t *testing.T, srv *httptest.Server, metric string) string {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, metric+" "); ok {
			return v
		}
	}
	t.Fatalf("metric %s not exported", metric)
	return ""
}

// TestRejectedReloadIsLoggedCountedAndClearedByAGoodSet covers issue #10
// item 14 with the real file source: a rejected reload logs one line with
// every error, counts portcullis_rule_reload_failures_total and shows in
// /debug/rules; putting the previous file back (the very same set, so
// nothing is republished) clears the error.
func TestRejectedReloadIsLoggedCountedAndClearedByAGoodSet(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.json")
	good := ruleDoc("allow")
	write(t, file, good)
	core, logs := observer.New(zapcore.InfoLevel)
	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	events := runSource(t, file, store, zap.New(core))

	reg := authz.NewRegistry()
	authz.RegisterRuleReloads(reg, func() (uint64, uint64) { st := store.Status(); return st.Reloads, st.Failures })
	srv := httptest.NewServer(authz.NewDebugHandler(reg, store, func() any { return store.Status() }))
	defer srv.Close()
	before := getDebugRules(t, srv)

	for _, bad := range []struct {
		name, doc, want string
		errors          int
	}{
		{"undecodable", `[{"id": "r1", "mach": {}, "authorizer": "x"}]`, `unknown field "mach" (did you mean "match"?)`, 2},
		{"invalid", ruleDoc("nosuch"), `authorizer (nosuch): unknown handler "nosuch"`, 1},
	} {
		t.Run(bad.name, func(t *testing.T) {
			logs.TakeAll()
			failures := store.Status().Failures
			write(t, file, bad.doc)
			failed, _ := until(t, events, "failed")
			if !strings.Contains(failed.detail, bad.want) {
				t.Fatalf("failure %q, want %q", failed.detail, bad.want)
			}
			st := getDebugRules(t, srv)
			if !strings.Contains(st.Status.LastError, bad.want) || st.Status.Failures <= failures || st.Version != before.Version {
				t.Fatalf("/debug/rules after the bad file: %+v", st)
			}
			if decide(t, store) != 200 {
				t.Fatal("the bad file replaced the rules in force")
			}

			write(t, file, good)
			unchanged, skipped := until(t, events, "unchanged")
			if unchanged.detail != before.Version {
				t.Fatalf("unchanged version %s, want %s", unchanged.detail, before.Version)
			}
			for _, e := range skipped {
				if e.kind != "failed" {
					t.Fatalf("unexpected %v", e)
				}
			}
			// Every reload before the unchanged one has finished: its log
			// line is written and its failure counted.
			st = getDebugRules(t, srv)
			if st.Status.LastError != "" || st.Version != before.Version || st.Status.Reloads != before.Status.Reloads {
				t.Fatalf("/debug/rules after the good file: %+v", st)
			}
			rejections := int(st.Status.Failures - failures)
			if got := scrape(t, srv, "portcullis_rule_reload_failures_total"); got != strconv.FormatUint(st.Status.Failures, 10) {
				t.Errorf("failures metric %s, store counted %d", got, st.Status.Failures)
			}
			rejected := logs.FilterMessage("rules rejected, previous rules stay in force").AllUntimed()
			if len(rejected) != rejections || len(logs.AllUntimed()) != rejections {
				t.Fatalf("%d rejections logged as %d lines (%d in all), want one line each", rejections, len(rejected), len(logs.AllUntimed()))
			}
			for _, e := range rejected {
				lines, _ := e.ContextMap()["error"].([]any)
				if e.Level != zapcore.ErrorLevel || len(lines) != bad.errors || !strings.Contains(lines[0].(string), bad.want) || e.ContextMap()["errors"] != int64(bad.errors) {
					t.Fatalf("rejection line %+v", e)
				}
			}
		})
	}
	if got := scrape(t, srv, "portcullis_rule_reloads_total"); got != "1" {
		t.Errorf("reloads metric %s, want 1 (the initial set only)", got)
	}
}
