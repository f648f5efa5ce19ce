package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
)

func explain(t *testing.T, s *pipeline.Snapshot, r *pipeline.Request, opts pipeline.ExplainOptions) (pipeline.Explanation, []string) {
	t.Helper()
	var tr []string
	e := s.Explain(context.WithValue(context.Background(), traceKey{}, &tr), r, opts)
	return e, tr
}

// Explain reports each handler call in order with its outcome, and the
// same answer Execute gives.
func TestExplainSteps(t *testing.T) {
	r1 := rule("r1", "https://api.test/x", []pipeline.HandlerSpec{h("a", "skip"), h("b", "")})
	r1.Authorizer = nil
	r1.Authorizers = []pipeline.HandlerSpec{{Handler: "fake", Config: map[string]any{"tag": "z1"}}, {Handler: "fake", Config: map[string]any{"tag": "z2", "outcome": "403"}}}
	s := mustCompile(t, r1)
	e, tr := explain(t, s, get("/x"), pipeline.ExplainOptions{})
	var got []string
	for _, st := range e.Steps {
		got = append(got, fmt.Sprintf("%s/%s/%s/%s", st.Kind, st.Rule, st.Outcome, st.Reason))
	}
	want := []string{
		"authenticator/r1/not responsible/",
		"authenticator/r1/ok/",
		"authorizer/r1/ok/",
		"authorizer/r1/failed/authorization_denied",
		"error_handler/r1/ok/",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	d := s.Execute(context.Background(), get("/x"))
	if e.Answer.Decision != "deny" || e.Answer.Status != d.Denial.Status || e.Answer.Reason != d.Reason || e.Rule != "r1" {
		t.Errorf("answer %+v, Execute said %d %s", e.Answer, d.Denial.Status, d.Reason)
	}
	if len(tr) != 5 {
		t.Errorf("handlers called %q, want each once", tr)
	}
}

// Offline, no handler is called: the selected rule's handlers are listed
// as not evaluated. A request that selects no rule is still answered.
func TestExplainOffline(t *testing.T) {
	s := mustCompile(t, rule("r1", "https://api.test/x", []pipeline.HandlerSpec{h("a", "")}))
	e, tr := explain(t, s, get("/x"), pipeline.ExplainOptions{Offline: true})
	if len(tr) != 0 {
		t.Errorf("offline explain called %q", tr)
	}
	if e.Rule != "r1" || e.Answer.Decision != pipeline.OutcomeNotEvaluated || len(e.Steps) != 3 {
		t.Fatalf("%+v", e)
	}
	for _, st := range e.Steps {
		if st.Outcome != pipeline.OutcomeNotEvaluated {
			t.Errorf("step %+v", st)
		}
	}
	e, _ = explain(t, s, get("/y"), pipeline.ExplainOptions{Offline: true})
	if e.Answer.Reason != pipeline.ReasonNoRule || len(e.Candidates) != 1 {
		t.Errorf("no match offline: %+v", e)
	}
}

// Near misses are ranked (URL matches first, then the longest literal
// agreement) and each says why it failed.
func TestExplainCandidates(t *testing.T) {
	s := mustCompile(t,
		rule("orders", "https://api.test/orders/<[0-9]+>", []pipeline.HandlerSpec{h("a", "")}),
		rule("other-host", "https://admin.test/orders/<[0-9]+>", []pipeline.HandlerSpec{h("a", "")}),
		rule("users", "https://api.test/users", []pipeline.HandlerSpec{h("a", "")}),
		rule("scheme", "http://api.test/orders/<[0-9]+>", []pipeline.HandlerSpec{h("a", "")}),
	)
	tests := []struct {
		name, method, path string
		max                int
		want               []string // rule: kind, ...
	}{
		{"method", "POST", "/orders/1", 1, []string{"orders: method"}},
		{"segment", "GET", "/order/1", 2, []string{"orders: path_segment", "users: path_segment"}},
		{"pattern", "GET", "/orders/x", 1, []string{"orders: pattern"}},
		{"literal extended", "GET", "/users/7", 1, []string{"users: path_segment"}},
		{"short path", "GET", "/", 1, []string{"orders: path_segment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(tt.path)
			r.Method = tt.method
			e, _ := explain(t, s, r, pipeline.ExplainOptions{MaxCandidates: tt.max})
			var got []string
			for _, c := range e.Candidates {
				kinds := make([]string, len(c.Misses))
				for i, m := range c.Misses {
					kinds[i] = m.Kind
					if m.Detail == "" {
						t.Errorf("%s %s: no detail", c.Rule, m.Kind)
					}
				}
				got = append(got, c.Rule+": "+strings.Join(kinds, ", "))
			}
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				t.Errorf("candidates %q, want %q", got, tt.want)
			}
		})
	}
	r := get("/orders/1")
	r.Host = "admin.tset"
	e, _ := explain(t, s, r, pipeline.ExplainOptions{MaxCandidates: 1})
	if len(e.Candidates) != 1 || e.Candidates[0].Misses[0].Kind != "host" {
		t.Errorf("host miss: %+v", e.Candidates)
	}
	r = get("/users")
	r.Scheme = "http"
	e, _ = explain(t, s, r, pipeline.ExplainOptions{MaxCandidates: 9})
	if len(e.Candidates) != 4 || e.Candidates[3].Rule != "users" || e.Candidates[3].Misses[0].Kind != "scheme" {
		t.Errorf("scheme miss: %+v", e.Candidates)
	}
}
