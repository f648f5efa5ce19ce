package pipeline

import "fmt"

// PortcullisOnlyFields lists the fields of s that Oathkeeper does not know
// (match.headers, priority, mode, authorizers, an authenticator's
// fallthrough), as paths for error messages. A rule file meant to load in
// Oathkeeper too must have none (rules validate --oathkeeper-strict).
func PortcullisOnlyFields(s *RuleSpec) []string {
	var out []string
	if s.Match != nil && len(s.Match.Headers) > 0 {
		out = append(out, "match.headers")
	}
	if s.Priority != 0 {
		out = append(out, "priority")
	}
	if s.Mode != "" {
		out = append(out, "mode")
	}
	if len(s.Authorizers) > 0 {
		out = append(out, "authorizers")
	}
	for i, a := range s.Authenticators {
		if a.Fallthrough {
			out = append(out, fmt.Sprintf("authenticators[%d].fallthrough", i))
		}
	}
	return out
}
