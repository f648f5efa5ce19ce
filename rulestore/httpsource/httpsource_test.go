package httpsource_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portcullis-authz/portcullis/handlers/authn/anonymous"
	"github.com/portcullis-authz/portcullis/handlers/authz/allow"
	"github.com/portcullis-authz/portcullis/handlers/authz/deny"
	mutnoop "github.com/portcullis-authz/portcullis/handlers/mutate/noop"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
	"github.com/portcullis-authz/portcullis/rulestore/httpsource"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func registry() *pipeline.Registry {
	r := pipeline.NewRegistry()
	pipeline.RegisterAuthenticator(r, "anonymous", anonymous.New)
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

func authorizerInForce(s *rulestore.Store) string {
	d := s.Current().Execute(context.Background(), &pipeline.Request{Method: "GET", Scheme: "http", Host: "h", RawPath: "/x", Header: pipeline.Header{}})
	if d.Allowed {
		return "allow"
	}
	return "deny"
}

// repo is a rule file server with ETags that answers If-None-Match with
// 304, and counts what it served.
type repo struct {
	mu          sync.Mutex
	body        string
	status      int           // when not 0, every answer
	stall       chan struct{} // when not nil, answers wait for it
	full, not   int           // 200s and 304s served
	conditional int           // requests with If-None-Match
}

func (r *repo) set(f func(*repo)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *repo) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	stall := r.stall
	r.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-req.Context().Done():
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Header.Get("If-None-Match") != "" {
		r.conditional++
	}
	if r.status != 0 {
		w.WriteHeader(r.status)
		return
	}
	sum := sha256.Sum256([]byte(r.body))
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	if req.Header.Get("If-None-Match") == etag {
		r.not++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	r.full++
	w.Header().Set("ETag", etag)
	_, _ = w.Write([]byte(r.body))
}

// running is a Source polling a repo into a store, with every poll and
// publish reported on channels so tests wait on events, not time.
type running struct {
	store     *rulestore.Store
	src       *httpsource.Source
	polls     chan struct{}
	published chan string
	failures  chan string
}

func start(t *testing.T, r *repo, tune ...func(*httpsource.Source)) *running {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	src, err := httpsource.New(srv.URL+"/rules.json", srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Interval, src.Timeout, src.MaxBytes = 5*time.Millisecond, 5*time.Second, 4096
	store := rulestore.NewStore(pipelineConfig(), registry(), nil)
	set, err := src.Load(context.Background())
	if err == nil {
		err = store.Publish(set)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tune {
		f(src)
	}
	x := &running{store: store, src: src, polls: make(chan struct{}, 1024), published: make(chan string, 16), failures: make(chan string, 1024)}
	src.OnPoll = func() { x.polls <- struct{}{} }
	src.OnError = func(err error) { store.RecordFailure(err); x.failures <- err.Error() }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(s rulestore.Set) error {
			err := store.Publish(s)
			if err != nil {
				x.failures <- err.Error()
			} else {
				x.published <- s.Version
			}
			return err
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return x
}

// waitPolls waits for n more polls (at most 10s on a loaded machine).
func (x *running) waitPolls(t *testing.T, n int) {
	t.Helper()
	bound := time.After(10 * time.Second)
	for range n {
		select {
		case <-x.polls:
		case <-bound:
			t.Fatalf("fewer than %d polls in 10s", n)
		}
	}
}

func TestPollPicksUpChangesAnd304CostsNoRecompilation(t *testing.T) {
	r := &repo{body: ruleDoc("allow")}
	x := start(t, r)
	x.waitPolls(t, 5)
	r.set(func(r *repo) {
		if r.not < 4 || r.full != 1 || r.conditional < 4 {
			t.Fatalf("served %d full, %d not modified, %d conditional: want 1 full and conditional 304s", r.full, r.not, r.conditional)
		}
	})
	if st := x.store.Status(); st.Reloads != 1 {
		t.Fatalf("%d reloads after unchanged polls: a 304 recompiled", st.Reloads)
	}

	r.set(func(r *repo) { r.body = ruleDoc("deny") })
	select {
	case <-x.published:
	case <-time.After(10 * time.Second):
		t.Fatal("the changed file was not published")
	}
	if got := authorizerInForce(x.store); got != "deny" {
		t.Fatalf("in force: %s", got)
	}
	x.waitPolls(t, 3)
	if st := x.store.Status(); st.Reloads != 2 {
		t.Fatalf("%d reloads: want 2", st.Reloads)
	}
}

func TestFailedPollsKeepTheLastGoodRules(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(*repo)
		want   string
	}{
		{"server error", func(r *repo) { r.status = http.StatusInternalServerError }, "HTTP status 500"},
		{"not found", func(r *repo) { r.status = http.StatusNotFound }, "HTTP status 404"},
		{"too large", func(r *repo) { r.body = "[" + strings.Repeat(" ", 5000) + "]" }, "larger than 4096 bytes"},
		{"undecodable", func(r *repo) { r.body = `[{"id":` }, "parse rules"},
		{"invalid rule", func(r *repo) { r.body = ruleDoc("nosuch") }, "unknown handler"},
		{"empty set", func(r *repo) { r.body = "[]" }, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &repo{body: ruleDoc("allow")}
			x := start(t, r)
			r.set(tt.break_)
			select {
			case msg := <-x.failures:
				if !strings.Contains(msg, tt.want) {
					t.Fatalf("error %q, want it to contain %q", msg, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no failure reported")
			}
			if got := authorizerInForce(x.store); got != "allow" || x.store.Status().LastError == "" {
				t.Fatalf("in force %s, status %+v: want the last good rules and the error", got, x.store.Status())
			}
			// Fixed again: the next poll publishes or finds the set in
			// force, and serving never stopped.
			r.set(func(r *repo) { r.status, r.body = 0, ruleDoc("deny") })
			select {
			case <-x.published:
			case <-time.After(10 * time.Second):
				t.Fatal("recovery not published")
			}
			if got := authorizerInForce(x.store); got != "deny" {
				t.Fatalf("in force %s after recovery", got)
			}
		})
	}
}

// TestFetchTimeout: a server that never answers is a failed poll after
// Timeout, not a stuck source.
func TestFetchTimeout(t *testing.T) {
	r := &repo{body: ruleDoc("allow")}
	x := start(t, r, func(s *httpsource.Source) { s.Timeout = 50 * time.Millisecond })
	stall := make(chan struct{})
	defer close(stall)
	r.set(func(r *repo) { r.stall = stall })
	select {
	case msg := <-x.failures:
		if !strings.Contains(msg, "no answer within") {
			t.Fatalf("error %q", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no timeout reported")
	}
}

func TestNewRejectsOtherURLs(t *testing.T) {
	for _, u := range []string{"file:///x", "http://", "https//x", "ftp://h/x"} {
		if _, err := httpsource.New(u, nil, nil); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}
