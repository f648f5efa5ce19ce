package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-authz/portcullis/pipeline/match"
)

// ReasonMethodNotAllowed is the reason of a request whose URL matches a
// rule whose match.methods do not include the request's method. The
// client sees the same status as for no_rule_match
// (access_rules.no_match_status), as in Oathkeeper, where the method is
// part of matching; only the reason and the error text differ.
const ReasonMethodNotAllowed = "method_not_allowed"

// maxListed bounds the rules and authenticators an error text names.
const maxListed = 4

// noMatch is the failure of a request that selected no rule:
// method_not_allowed, naming the rules and the methods they allow, when
// its URL matches some rule (or the route names one) whose methods do not
// include the request's; no_rule_match otherwise. It runs a second,
// method-blind lookup, which is why it is only called on that miss.
func (s *Snapshot) noMatch(r *Request) error {
	var buf [maxListed]*Rule
	rules := buf[:0]
	more := 0
	var headersMiss *Rule
	if id := r.Context[ContextRuleID]; id != "" {
		// byContext found nothing: the id is unknown or the method is not
		// the rule's.
		if rule := s.byID[id]; rule != nil && rule.Spec.Match != nil && len(rule.Spec.Match.Methods) > 0 {
			rules = append(rules, rule)
		}
	} else {
		var hbuf [maxListed]match.Hit
		hits, err := s.index.LookupAnyMethod(r.Scheme, r.Host, r.Path, hbuf[:0])
		if err == nil {
			for _, h := range hits {
				if rule := s.rules[h.Index]; methodAllowed(rule.Spec.Match.Methods, r.Method) {
					// Its url and method match: its match.headers did
					// not (the only other way to miss it).
					headersMiss = rule
					continue
				}
				if len(rules) == maxListed {
					more++
					continue
				}
				rules = append(rules, s.rules[h.Index])
			}
		}
	}
	switch {
	case len(rules) == 0 && headersMiss != nil:
		return NewError(s.noMatchStatus, ReasonNoRule, fmt.Sprintf("requested url matches rule %q, but not its match.headers", headersMiss.ID), nil)
	case len(rules) == 0:
		return NewError(s.noMatchStatus, ReasonNoRule, "requested url does not match any rule", nil)
	}
	var b strings.Builder
	if len(rules) == 1 {
		fmt.Fprintf(&b, "requested url matches rule %q, which allows %s, not %s", rules[0].ID, methodList(rules[0]), r.Method)
	} else {
		b.WriteString("requested url matches rules ")
		for i, rule := range rules {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q (%s)", rule.ID, methodList(rule))
		}
		if more > 0 {
			fmt.Fprintf(&b, " and %d more", more)
		}
		fmt.Fprintf(&b, ", none of which allows %s", r.Method)
	}
	return NewError(s.noMatchStatus, ReasonMethodNotAllowed, b.String(), nil)
}

// methodList is a rule's match.methods, upper-cased as they are compared.
func methodList(rule *Rule) string {
	return strings.ToUpper(strings.Join(rule.Spec.Match.Methods, ", "))
}

// noneResponsible is the cause recorded when every authenticator of a rule
// skipped the request: each one's name with its reason ("not responsible"
// when it gave none), the first maxListed of them, for the decision log.
// skipped holds their errors in chain order, at most maxListed.
func noneResponsible(rule *Rule, skipped []error) error {
	var b strings.Builder
	b.WriteString("no authenticator was responsible: ")
	for i, err := range skipped {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(rule.authenticators[i].name)
		b.WriteString(" (")
		b.WriteString(ReasonOf(err, "not responsible"))
		b.WriteByte(')')
	}
	if more := len(rule.authenticators) - len(skipped); more > 0 {
		fmt.Fprintf(&b, " and %d more", more)
	}
	return errors.New(b.String())
}
