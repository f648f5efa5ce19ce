package authz_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// samplingRules allow /public/..., deny /admin/... (403) and run /beta/...
// in shadow mode with a deny authorizer, so it is allowed but would deny.
const samplingRules = `
- id: public
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
- id: admin
  match: {url: "https://api.test/admin/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: noop}]
- id: beta
  mode: shadow
  match: {url: "https://api.test/beta/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: deny}
  mutators: [{handler: noop}]
`

// samplingChecker returns a Checker over samplingRules that logs to the
// returned observer at level, sampling allowed decisions one in every.
func samplingChecker(t *testing.T, level zapcore.LevelEnabler, every uint64) (*authz.Checker, *observer.ObservedLogs) {
	t.Helper()
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	cfg, _, err := config.Load("sampling.yaml", []byte(`
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}, deny: {enabled: true}}
mutators: {noop: {enabled: true}}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("sampling-rules.yaml", []byte(samplingRules))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(snap.Close)
	st := &store{}
	st.s.Store(snap)
	core, logs := observer.New(level)
	return authz.NewChecker(st, zap.New(core), nil, testBudget, authz.WithDecisionSampling(every)), logs
}

// checkPaths checks GET api.test<path> for each path, in order.
func checkPaths(t *testing.T, c *authz.Checker, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := c.Check(context.Background(), checkReq("GET", p, nil)); err != nil {
			t.Fatal(err)
		}
	}
}

// loggedPaths lists the path of each decision line, in order.
func loggedPaths(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.FilterMessage("decision").All() {
		out = append(out, e.ContextMap()["path"].(string))
	}
	return out
}

// TestDecisionSamplingIsExact: log.decisions keeps every denial (shadow
// rules that would deny included) and, of the allowed decisions, the 1st,
// N+1st, 2N+1st and so on, by a counter, so the lines are predictable.
func TestDecisionSamplingIsExact(t *testing.T) {
	// A1..A8 allowed, D1, D2 denied, S1 allowed by a shadow rule that would
	// deny.
	sequence := []string{"/public/A1", "/public/A2", "/admin/D1", "/public/A3", "/beta/S1", "/public/A4",
		"/public/A5", "/public/A6", "/admin/D2", "/public/A7", "/public/A8"}
	tests := []struct {
		name  string
		every uint64
		want  []string
	}{
		{"all", 1, sequence},
		{"denied", 0, []string{"/admin/D1", "/beta/S1", "/admin/D2"}},
		{"sample:3", 3, []string{"/public/A1", "/admin/D1", "/beta/S1", "/public/A4", "/admin/D2", "/public/A7"}},
		{"sample:100", 100, []string{"/public/A1", "/admin/D1", "/beta/S1", "/admin/D2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs := samplingChecker(t, zapcore.InfoLevel, tt.every)
			checkPaths(t, c, sequence...)
			if got := loggedPaths(logs); !slices.Equal(got, tt.want) {
				t.Fatalf("logged %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDecisionSamplingCountsLoggedLevelsOnly: allowed decisions made while
// the level hides them do not advance the counter, so the first allowed
// decision after the level drops to info is logged.
func TestDecisionSamplingCountsLoggedLevelsOnly(t *testing.T) {
	level := zap.NewAtomicLevelAt(zapcore.WarnLevel)
	c, logs := samplingChecker(t, level, 3)
	checkPaths(t, c, "/public/w1", "/public/w2")
	level.SetLevel(zapcore.InfoLevel)
	checkPaths(t, c, "/public/i1", "/public/i2", "/public/i3", "/public/i4")
	if got, want := loggedPaths(logs), []string{"/public/i1", "/public/i4"}; !slices.Equal(got, want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
}

// TestDecisionSamplingConcurrent: checks on many goroutines share one
// counter, so exactly one allowed line in N is written.
func TestDecisionSamplingConcurrent(t *testing.T) {
	const workers, perWorker, every = 4, 250, 10
	c, logs := samplingChecker(t, zapcore.InfoLevel, every)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if _, err := c.Check(context.Background(), checkReq("GET", "/public/x", nil)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := logs.FilterMessage("decision").Len(); n != workers*perWorker/every {
		t.Fatalf("%d decision lines, want %d", n, workers*perWorker/every)
	}
}

// TestDecisionLinesDoNotShareFields: decision lines are built in pooled
// field arrays; a short line after a long one carries none of its fields.
func TestDecisionLinesDoNotShareFields(t *testing.T) {
	c, logs := samplingChecker(t, zapcore.InfoLevel, 1)
	checkPaths(t, c, "/beta/long", "/public/short")
	lines := logs.FilterMessage("decision").All()
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	var keys []string
	for k := range lines[1].ContextMap() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"decision", "duration_ms", "host", "method", "path", "reason", "request_id", "rule_id", "rules_version", "status", "subject"}
	if !slices.Equal(keys, want) {
		t.Fatalf("short line keys %s, want %s", strings.Join(keys, ","), strings.Join(want, ","))
	}
	if lines[0].ContextMap()["mode"] != pipeline.ModeShadow {
		t.Fatalf("long line %v", lines[0].ContextMap())
	}
}
