package pipeline

import (
	"fmt"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// ReasonRouteRuleMismatch is the reason of a request whose Envoy route
// names a rule (context_extensions.rule_id) whose match.url or
// match.methods do not cover the request. The route and the rule
// disagree, which is a configuration error: the request is denied with
// the no-match status by the global error handlers, never judged by the
// named rule's pipeline.
const ReasonRouteRuleMismatch = "route_rule_mismatch"

// routeMismatch is the failure of a request whose route named rule but
// whose method or URL (urlOK false) the rule does not match. Its text
// names the route's rule and what the request matches instead, for the
// decision log. It runs a second lookup, which is why it is only called
// on that miss.
func (s *Snapshot) routeMismatch(rule *Rule, r *Request, urlOK bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "the route names rule %q (%s %s), but the request %s %s", rule.ID,
		methodList(rule), rule.Spec.Match.URL, r.Method, match.MatchString(r.Scheme, r.Host, r.Path))
	if urlOK {
		b.WriteString(" has a method the rule does not allow")
	} else {
		b.WriteString(" does not match its url")
	}
	var buf [2]match.Hit
	hits, err := s.index.Lookup(r.Method, r.Scheme, r.Host, r.Path, buf[:0])
	switch {
	case err != nil:
	case len(hits) == 0:
		b.WriteString("; by url it matches no rule")
	default:
		fmt.Fprintf(&b, "; by url it matches rule %q", s.rules[hits[0].Index].ID)
	}
	return NewError(s.noMatchStatus, ReasonRouteRuleMismatch, b.String(), nil)
}
