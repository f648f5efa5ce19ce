package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// ctxMark tags a context so a test can see which observer's context a
// later one, or the handler, received.
type ctxMark struct{}

// namedObserver writes down the order of its calls.
type namedObserver struct {
	name string
	mu   *sync.Mutex
	log  *[]string
}

func (o namedObserver) StartStep(ctx context.Context, s pipeline.Step) (context.Context, func(error)) {
	prev, _ := ctx.Value(ctxMark{}).(string)
	o.mu.Lock()
	*o.log = append(*o.log, fmt.Sprintf("start %s %s/%s after %q", o.name, s.Kind, s.Handler, prev))
	o.mu.Unlock()
	return context.WithValue(ctx, ctxMark{}, o.name), func(err error) {
		o.mu.Lock()
		*o.log = append(*o.log, fmt.Sprintf("done %s %s", o.name, authz.StepOutcome(err)))
		o.mu.Unlock()
	}
}

// Two observers (metrics and tracing, say) both see every handler call:
// the second gets the first's context, and they finish innermost first.
func TestWithStepObserversComposes(t *testing.T) {
	st := &store{}
	st.s.Store(snapshot(t))
	var mu sync.Mutex
	var log []string
	c := authz.NewChecker(st, zap.NewNop(), nil, authz.WithStepObservers(
		namedObserver{"a", &mu, &log}, nil, namedObserver{"b", &mu, &log}))
	if _, err := c.Check(context.Background(), checkReq("GET", "/admin/x", nil)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`start a authenticator/anonymous after ""`, `start b authenticator/anonymous after "a"`, "done b ok", "done a ok",
		`start a authorizer/deny after ""`, `start b authorizer/deny after "a"`, "done b denied", "done a denied",
		`start a error_handler/json after ""`, `start b error_handler/json after "a"`, "done b ok", "done a ok",
	}
	if strings.Join(log, "\n") != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
}

func TestStepOutcomeIsAClosedSet(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, authz.OutcomeOK},
		{fmt.Errorf("no bearer token: %w", pipeline.ErrSkip), authz.OutcomeSkip},
		{pipeline.NewError(401, "jwt_expired", "token expired", nil), authz.OutcomeDenied},
		{pipeline.NewError(403, "forbidden", "forbidden", nil), authz.OutcomeDenied},
		{pipeline.NewError(503, "remote_unavailable", "down", nil), authz.OutcomeError},
		{pipeline.NewError(503, pipeline.ReasonDeadline, "too late", nil), authz.OutcomeTimeout},
		{fmt.Errorf("call: %w", context.DeadlineExceeded), authz.OutcomeTimeout},
		{errors.New("something odd with a token abc.def"), authz.OutcomeError},
	}
	for _, tt := range tests {
		if got := authz.StepOutcome(tt.err); got != tt.want {
			t.Errorf("StepOutcome(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// At debug level the decision line lists each handler's outcome, as one
// field of the same line; at info it does not. Neither carries the
// request's credential.
func TestDebugDecisionLineListsHandlerOutcomes(t *testing.T) {
	st := &store{}
	st.s.Store(snapshot(t))
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	core, logs := observer.New(level)
	c := authz.NewChecker(st, zap.New(core), nil)
	req := checkReq("GET", "/admin/x?access_token=s3cret-query", map[string]string{"x-api-key": "s3cret-header"})

	if _, err := c.Check(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	level.SetLevel(zapcore.DebugLevel) // as PUT /debug/log/level or SIGHUP would
	if _, err := c.Check(context.Background(), req); err != nil {
		t.Fatal(err)
	}

	lines := logs.FilterMessage("decision").All()
	if len(lines) != 2 {
		t.Fatalf("%d decision lines, want 2", len(lines))
	}
	if _, ok := lines[0].ContextMap()["steps"]; ok {
		t.Errorf("info decision line has steps: %v", lines[0].ContextMap())
	}
	b, err := json.Marshal(lines[1].ContextMap()["steps"])
	if err != nil {
		t.Fatal(err)
	}
	var steps []map[string]any
	if err := json.Unmarshal(b, &steps); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		if _, ok := s["duration_ms"].(float64); !ok {
			t.Errorf("step without duration_ms: %v", s)
		}
		got = append(got, fmt.Sprintf("%v/%v=%v(%v)", s["kind"], s["handler"], s["outcome"], s["reason"]))
	}
	want := "authenticator/anonymous=ok(<nil>) authorizer/deny=denied(deny_handler) error_handler/json=ok(<nil>)"
	if strings.Join(got, " ") != want {
		t.Errorf("steps %s, want %s", strings.Join(got, " "), want)
	}
	all, _ := json.Marshal(lines[1].ContextMap())
	if strings.Contains(string(all), "s3cret") {
		t.Errorf("debug decision line leaks the credential: %s", all)
	}
}

// Decisions are counted per rule, outcome and reason; a reload that
// drops a rule drops its series.
func TestDecisionMetricsByRuleAndForgetRules(t *testing.T) {
	st := &store{}
	snap := snapshot(t)
	st.s.Store(snap)
	reg := prometheus.NewRegistry()
	m := authz.NewMetrics(reg)
	c := authz.NewChecker(st, zap.NewNop(), m)
	for _, p := range []string{"/public/a", "/public/b", "/admin/x", "/nowhere"} {
		if _, err := c.Check(context.Background(), checkReq("GET", p, nil)); err != nil {
			t.Fatal(err)
		}
	}
	want := `decision="allow",reason="allowed",rule_id="public" 2
decision="deny",reason="deny_handler",rule_id="admin" 1
decision="deny",reason="no_rule_match",rule_id="" 1`
	if got := gathered(t, reg, "portcullis_decisions_total"); got != want {
		t.Fatalf("portcullis_decisions_total:\n%s\nwant:\n%s", got, want)
	}
	if got := gathered(t, reg, "portcullis_decision_duration_seconds"); got != "decision=\"allow\" 2\ndecision=\"deny\" 2" {
		t.Errorf("portcullis_decision_duration_seconds:\n%s", got)
	}

	// A snapshot without the admin rule.
	other := snapshotOf(t, `
- id: public
  match: {url: "https://api.test/public/<.*>", methods: [GET]}
  authenticators: [{handler: anonymous}]
  authorizer: {handler: allow}
  mutators: [{handler: noop}]
`)
	m.ForgetRules(other)
	want = `decision="allow",reason="allowed",rule_id="public" 2
decision="deny",reason="no_rule_match",rule_id="" 1`
	if got := gathered(t, reg, "portcullis_decisions_total"); got != want {
		t.Fatalf("after ForgetRules:\n%s\nwant:\n%s", got, want)
	}
}

// gathered renders the series of the family name in reg, one per line
// as `labels value` (a histogram's value is its count), sorted.
func gathered(t *testing.T, reg *prometheus.Registry, name string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var kv []string
			for _, l := range m.GetLabel() {
				kv = append(kv, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			out = append(out, fmt.Sprintf("%s %v", strings.Join(kv, ","), v))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// BenchmarkCheckWithMetrics is BenchmarkCheck with the decision and
// per-handler metrics on, as served: compare their allocs/op (the
// metrics add none once their series exist).
func BenchmarkCheckWithMetrics(b *testing.B) {
	st := &store{}
	st.s.Store(snapshot(b))
	reg := prometheus.NewRegistry()
	c := authz.NewChecker(st, zap.NewNop(), authz.NewMetrics(reg), authz.WithStepObservers(authz.NewHandlerMetrics(reg)))
	req := checkReq("GET", "/public/items/42?page=2", map[string]string{"user-agent": "bench", "accept": "*/*", "x-forwarded-proto": "https"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Check(ctx, req)
		if err != nil || resp.GetStatus().GetCode() != 0 {
			b.Fatal(resp, err)
		}
	}
}

// snapshotOf compiles rulesYAML with the anonymous, allow, deny and noop
// handlers.
func snapshotOf(t testing.TB, rulesYAML string) *pipeline.Snapshot {
	t.Helper()
	return snapshotWith(t, `
authenticators: {anonymous: {enabled: true}}
authorizers: {allow: {enabled: true}, deny: {enabled: true}}
mutators: {noop: {enabled: true}}
`, rulesYAML)
}

// snapshotWith compiles rulesYAML with the built-in handlers the service
// config configYAML enables.
func snapshotWith(t testing.TB, configYAML, rulesYAML string) *pipeline.Snapshot {
	t.Helper()
	deps := builtin.NewDeps(nil)
	t.Cleanup(deps.Close)
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	cfg, _, err := config.Load("test.yaml", []byte(configYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := rulestore.DecodeRules("rules.yaml", []byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	s, err := pipeline.Compile(specs, cfg.Pipeline(), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}
