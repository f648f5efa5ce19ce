package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// ExplainOptions tunes Snapshot.Explain.
type ExplainOptions struct {
	// Offline runs matching only: no handler is called (remote ones
	// included), the selected rule's handlers are listed as not
	// evaluated and so is the answer. A request that selects no rule is
	// still answered, by the global error handlers, which call nothing
	// remote.
	Offline bool
	// MaxCandidates bounds the near misses listed when no rule matches
	// (default 3).
	MaxCandidates int
}

// Explanation is what Explain found out about one request: how it was
// normalised, which rule it selected or why none did, each handler's
// outcome in order, and the answer.
type Explanation struct {
	Request    ExplainedRequest `json:"request"`
	Rule       string           `json:"rule,omitempty"`
	Candidates []Candidate      `json:"candidates,omitempty"`
	Steps      []ExplainedStep  `json:"steps"`
	Answer     ExplainedAnswer  `json:"answer"`
}

// ExplainedRequest is the request as rules see it.
type ExplainedRequest struct {
	Method string `json:"method"`
	// Host and Path are the canonical host and normalised path; Match is
	// the string match.url patterns are matched against.
	Host  string `json:"host"`
	Path  string `json:"path"`
	Match string `json:"match"`
	// RouteRule is the rule the Envoy route names
	// (context_extensions.rule_id), if any.
	RouteRule string `json:"route_rule,omitempty"`
}

// Candidate is a rule the request nearly matched, with every reason it
// did not.
type Candidate struct {
	Rule    string   `json:"rule"`
	URL     string   `json:"url"`
	Methods []string `json:"methods"`
	// Misses are the reasons, each "kind: detail" with kind one of
	// method, scheme, host, path_segment, pattern.
	Misses []Miss `json:"misses"`
}

// Miss is one reason a candidate rule did not match.
type Miss struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// ExplainedStep is one handler call and its outcome.
type ExplainedStep struct {
	Kind    StepKind `json:"kind"`
	Rule    string   `json:"rule,omitempty"`
	Handler string   `json:"handler"`
	// Outcome is "ok", "not responsible", "failed" or "not evaluated".
	Outcome string `json:"outcome"`
	// Reason is the failure's reason id and Error its text, when there is
	// one.
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// The outcomes of an ExplainedStep.
const (
	OutcomeOK             = "ok"
	OutcomeNotResponsible = "not responsible"
	OutcomeFailed         = "failed"
	OutcomeNotEvaluated   = "not evaluated"
)

// ExplainedAnswer is the final answer.
type ExplainedAnswer struct {
	// Decision is "allow", "deny" or "not evaluated" (offline).
	Decision string `json:"decision"`
	Status   int    `json:"status,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Handler  string `json:"handler,omitempty"`
	Error    string `json:"error,omitempty"`
	Subject  string `json:"subject,omitempty"`
	// HeadersSet are the upstream headers on allow, the client response
	// headers on deny; HeadersRemoved the request headers stripped
	// before the request goes upstream.
	HeadersSet     map[string][]string `json:"headers_set,omitempty"`
	HeadersRemoved []string            `json:"headers_removed,omitempty"`
	Body           string              `json:"body,omitempty"`
}

// Explain evaluates r as Execute would and reports how (see
// Explanation). It is a separate, slower path for people: Execute is
// untouched, and Explain learns each handler's outcome through a
// StepObserver. r is modified as Execute modifies it.
func (s *Snapshot) Explain(ctx context.Context, r *Request, opts ExplainOptions) Explanation {
	var e Explanation
	e.Request.RouteRule = r.Context[ContextRuleID]
	if s == nil {
		e.Answer = answer(s.Execute(ctx, r))
		return e
	}
	if err := s.canonicalize(r); err != nil {
		e.Request.Method, e.Request.Host = r.Method, r.Host
		e.Answer = answer(s.Execute(ctx, r))
		return e
	}
	e.Request.Method, e.Request.Host, e.Request.Path = r.Method, r.Host, r.Path
	e.Request.Match = match.MatchString(r.Scheme, r.Host, r.Path)

	if opts.Offline {
		if rule := s.selectOffline(r); rule != nil {
			e.Rule = rule.ID
			e.Steps = rule.listSteps()
			e.Answer.Decision = OutcomeNotEvaluated
			return e
		}
	}
	rec := &stepRecorder{}
	d := s.Execute(WithStepObserver(ctx, rec), r)
	e.Rule = d.RuleID
	e.Steps = rec.steps
	if e.Steps == nil {
		e.Steps = []ExplainedStep{}
	}
	e.Answer = answer(d)
	switch d.Reason {
	case ReasonNoRule, ReasonMethodNotAllowed, ReasonRouteRuleMismatch:
		e.Candidates = s.candidates(r, cmpOr(opts.MaxCandidates, 3))
	}
	return e
}

func cmpOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// selectOffline is the rule Execute would select for r, found with
// Execute's own matching steps, or nil when it would select none.
func (s *Snapshot) selectOffline(r *Request) *Rule {
	var hits []match.Hit
	var err error
	if id := r.Context[ContextRuleID]; id != "" {
		hits, err = s.byContext(id, r, nil)
	} else {
		hits, err = s.index.Lookup(r.Method, r.Scheme, r.Host, r.Path, nil)
		if err == nil && len(hits) <= 1 && trailingSlashStripped(r) {
			hits, err = s.slashGuard(r, hits)
		}
		if err == nil && len(hits) == 1 && !s.caseSensitiveUpstreams {
			var other *Rule
			if other, err = s.caseGuard(r, hits[0].Index); other != nil {
				return nil
			}
		}
	}
	if err != nil || len(hits) != 1 {
		return nil
	}
	return s.rules[hits[0].Index]
}

// listSteps lists the rule's handlers in the order Execute would call
// them, none evaluated.
func (rule *Rule) listSteps() []ExplainedStep {
	var out []ExplainedStep
	add := func(k StepKind, name string) {
		out = append(out, ExplainedStep{Kind: k, Rule: rule.ID, Handler: name, Outcome: OutcomeNotEvaluated})
	}
	for _, a := range rule.authenticators {
		add(StepAuthenticator, a.name)
	}
	for _, a := range rule.authorizers {
		add(StepAuthorizer, a.name)
	}
	for _, m := range rule.mutators {
		add(StepMutator, m.name)
	}
	return out
}

// candidates are the rules nearest to matching r, nearest first: those
// whose URL matches (only the method is wrong), then by how much of the
// match string agrees with the rule's literal text. A route's rule comes
// first.
func (s *Snapshot) candidates(r *Request, max int) []Candidate {
	type scored struct {
		c       Candidate
		urlOK   bool
		matched int
		index   int
	}
	routeRule := s.byID[r.Context[ContextRuleID]]
	var all []scored
	for _, rule := range s.rules {
		if rule.pattern == nil || rule.Spec.Match == nil {
			continue
		}
		c := Candidate{Rule: rule.ID, URL: rule.Spec.Match.URL, Methods: rule.Spec.Match.Methods}
		if c.Methods == nil {
			c.Methods = []string{}
		}
		methodOK := methodAllowed(rule.Spec.Match.Methods, r.Method)
		if !methodOK {
			allowed := "no method (match.methods is empty)"
			if len(rule.Spec.Match.Methods) > 0 {
				allowed = methodList(rule)
			}
			c.Misses = append(c.Misses, Miss{Kind: "method", Detail: fmt.Sprintf("the rule allows %s, not %s", allowed, r.Method)})
		}
		_, urlOK, err := rule.pattern.Match(match.MatchString(r.Scheme, r.Host, r.Path))
		matched := len(match.MatchString(r.Scheme, r.Host, r.Path))
		switch {
		case err != nil:
			c.Misses = append(c.Misses, Miss{Kind: string(match.MissPattern), Detail: err.Error()})
		case !urlOK:
			m := rule.pattern.Miss(r.Scheme, r.Host, r.Path)
			c.Misses = append(c.Misses, Miss{Kind: string(m.Part), Detail: m.Detail})
			matched = m.Matched
		}
		if len(c.Misses) == 0 {
			if rule != routeRule {
				continue // it matches: not a near miss
			}
		}
		all = append(all, scored{c, urlOK && err == nil, matched, rule.index})
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		switch {
		case routeRule != nil && (a.index == routeRule.index) != (b.index == routeRule.index):
			return a.index == routeRule.index
		case a.urlOK != b.urlOK:
			return a.urlOK
		case a.matched != b.matched:
			return a.matched > b.matched
		}
		return len(a.c.Misses) < len(b.c.Misses)
	})
	out := make([]Candidate, 0, min(len(all), max))
	for _, sc := range all[:min(len(all), max)] {
		out = append(out, sc.c)
	}
	return out
}

// answer renders a decision.
func answer(d Decision) ExplainedAnswer {
	a := ExplainedAnswer{Reason: d.Reason, Handler: d.Handler, Subject: d.Subject}
	if d.Err != nil {
		a.Error = d.Err.Error()
	}
	if d.Allowed {
		a.Decision, a.Status = "allow", http.StatusOK
		if d.Session != nil {
			a.HeadersSet = map[string][]string(d.Session.Header.Clone())
			a.HeadersRemoved = slices.Clone(d.Session.RemoveHeaders)
		}
		return a
	}
	a.Decision, a.Status = "deny", d.Denial.Status
	a.HeadersSet = map[string][]string(d.Denial.Header.Clone())
	a.Body = string(d.Denial.Body)
	return a
}

// stepReason is the reason Execute gives a failure of each kind of step
// that carries none of its own (withReason).
var stepReason = map[StepKind]string{
	StepAuthenticator: ReasonAuthnFailed,
	StepAuthorizer:    ReasonAuthzDenied,
	StepMutator:       ReasonMutationFailed,
	StepErrorHandler:  ReasonErrorHandlerFail,
}

// stepRecorder is the StepObserver of one Explain call.
type stepRecorder struct {
	mu    sync.Mutex
	steps []ExplainedStep
}

// StartStep records the step and, when it ends, its outcome.
func (rec *stepRecorder) StartStep(ctx context.Context, st Step) (context.Context, func(error)) {
	rec.mu.Lock()
	i := len(rec.steps)
	rec.steps = append(rec.steps, ExplainedStep{Kind: st.Kind, Rule: st.RuleID, Handler: st.Handler})
	rec.mu.Unlock()
	return ctx, func(err error) {
		es := ExplainedStep{Kind: st.Kind, Rule: st.RuleID, Handler: st.Handler, Outcome: OutcomeOK}
		switch {
		case err == nil:
		case errors.Is(err, ErrSkip):
			es.Outcome, es.Reason = OutcomeNotResponsible, ReasonOf(err, "")
		default:
			es.Outcome, es.Reason, es.Error = OutcomeFailed, ReasonOf(err, stepReason[st.Kind]), err.Error()
		}
		rec.mu.Lock()
		rec.steps[i] = es
		rec.mu.Unlock()
	}
}

// WriteText writes e for a terminal, one fact a line.
func (e Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	rq := e.Request
	fmt.Fprintf(&b, "request:  %s %s\n", rq.Method, rq.Match)
	fmt.Fprintf(&b, "  host:   %s\n  path:   %s\n", rq.Host, rq.Path)
	if rq.RouteRule != "" {
		fmt.Fprintf(&b, "  route rule (context_extensions.rule_id): %s\n", rq.RouteRule)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule:     %s\n", e.Rule)
	} else {
		b.WriteString("rule:     none\n")
	}
	if len(e.Candidates) > 0 {
		b.WriteString("closest rules:\n")
		for _, c := range e.Candidates {
			fmt.Fprintf(&b, "  %s  %s %s\n", c.Rule, strings.ToUpper(strings.Join(c.Methods, ",")), c.URL)
			for _, m := range c.Misses {
				fmt.Fprintf(&b, "    %s: %s\n", m.Kind, m.Detail)
			}
			if len(c.Misses) == 0 {
				b.WriteString("    matches\n")
			}
		}
	}
	if len(e.Steps) > 0 {
		b.WriteString("steps:\n")
		for i, st := range e.Steps {
			fmt.Fprintf(&b, "  %d. %-13s %-22s %s", i+1, st.Kind, st.Handler, st.Outcome)
			if st.Reason != "" {
				fmt.Fprintf(&b, " (%s)", st.Reason)
			}
			if st.Error != "" {
				fmt.Fprintf(&b, ": %s", st.Error)
			}
			b.WriteByte('\n')
		}
	}
	a := e.Answer
	fmt.Fprintf(&b, "answer:   %s", a.Decision)
	if a.Status != 0 {
		fmt.Fprintf(&b, " %d", a.Status)
	}
	if a.Reason != "" {
		fmt.Fprintf(&b, " (%s)", a.Reason)
	}
	b.WriteByte('\n')
	if a.Handler != "" {
		fmt.Fprintf(&b, "  decided by: %s\n", a.Handler)
	}
	if a.Error != "" {
		fmt.Fprintf(&b, "  error:   %s\n", a.Error)
	}
	if a.Subject != "" {
		fmt.Fprintf(&b, "  subject: %s\n", a.Subject)
	}
	label := "upstream header"
	if a.Decision == "deny" {
		label = "response header"
	}
	keys := make([]string, 0, len(a.HeadersSet))
	for k := range a.HeadersSet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range a.HeadersSet[k] {
			fmt.Fprintf(&b, "  %s: %s: %s\n", label, k, v)
		}
	}
	for _, k := range a.HeadersRemoved {
		fmt.Fprintf(&b, "  removed header: %s\n", k)
	}
	if a.Body != "" {
		fmt.Fprintf(&b, "  body:    %s\n", a.Body)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
