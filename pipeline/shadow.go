package pipeline

import (
	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// Shadow reports whether the rule runs in shadow mode (RuleSpec.Mode
// "shadow" or listed in Config.ShadowRules).
func (rule *Rule) Shadow() bool { return rule.shadow }

// WouldDeny reports whether a shadow decision records a denial that
// enforcing the rule would have given.
func (d *Decision) WouldDeny() bool { return d.Shadow && d.WouldReason != ReasonAllowed }

// selectHits narrows URL and method hits by the rules' match.headers and
// priority (match.Index.Select). Rule sets that use neither skip it.
func (s *Snapshot) selectHits(r *Request, hits []match.Hit) ([]match.Hit, error) {
	if !s.matchExt || len(hits) == 0 {
		return hits, nil
	}
	return s.index.Select(hits, func(name string) (string, bool) {
		v := r.Header[name]
		if len(v) == 0 {
			return "", false
		}
		return v[0], true
	})
}

// shadowAllowed turns the denial a shadow rule would have given into an
// allow that records it. The failed chain's session is dropped: the
// request goes upstream without any mutation it made (no headers set, no
// subject), because a partly mutated request is worse than an untouched
// one; the headers the rule's mutators would have set are removed, so the
// client's own copies cannot stand in for them. Only a rule that was selected is ever shadowed: a
// malformed request, no match or an ambiguous match is denied as usual.
func shadowAllowed(rule *Rule, r *Request, denied Decision) Decision {
	return Decision{
		Allowed: true,
		RuleID:  rule.ID,
		Session: &Session{MatchContext: MatchContext{
			RegexpCaptureGroups: []string{}, // no mutator runs: nothing reads them
			URL:                 r.URL(),
			Method:              r.Method,
			Header:              r.Header,
		}, RemoveHeaders: rule.setsHeaders},
		Reason:      ReasonAllowed,
		Handler:     denied.Handler,
		Err:         denied.Err,
		Shadow:      true,
		WouldReason: denied.Reason,
		WouldStatus: denied.Denial.Status,
	}
}
