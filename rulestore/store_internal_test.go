package rulestore

import "testing"

// warningField finds the field in every warning shape Compile writes,
// whatever the source, line and id in front of it.
func TestWarningField(t *testing.T) {
	tests := []struct{ warning, want string }{
		{`rules.yaml:3: rules[0] (id "a"): match.url https://h/x/<.*> does not match https://h/x or https://h/x/`, "match.url"},
		{`rules[12]: match.methods is empty, the rule never matches`, "match.methods"},
		{`r.yaml: rules[1] (id "a): b"): upstream is ignored: Envoy routes the request`, "upstream"},
		{`r.yaml: rules[1] (id "\"x\" rules[2]"): match.url never matches: bad host`, "match.url"},
		{`r.yaml: rules[4] (id "h"): mutators[2] (header): headers.X: template never set`, "mutators (header)"},
		{`r.yaml: rules[4] (id "h"): authorizer (remote_json): deprecated key`, "authorizer (remote_json)"},
		{`r.yaml: rules[4]: upstream`, "upstream"},
		{`an upstream block is ignored`, "other"},
		{`r.yaml: rules[x]: match.url`, "other"},
		{`r.yaml: rules[1] (id "unterminated`, "other"},
		{`r.yaml: rules[1] nothing`, "other"},
	}
	for _, tt := range tests {
		if got := warningField(tt.warning); got != tt.want {
			t.Errorf("warningField(%q) = %q, want %q", tt.warning, got, tt.want)
		}
	}
}
