package rulestore_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/portcullis-authz/portcullis/pipeline"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// reloadRules is n rules, each anonymous → allow → header X-User set by
// template, on GET https://api.test/svc-<i>.
func reloadRules(n int, template, methods string) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "- id: r%04d\n  match:\n    url: \"https://api.test/svc-%04d\"\n    methods: %s\n", i, i, methods)
		b.WriteString("  authenticators: [{handler: anonymous}]\n  authorizer: {handler: allow}\n")
		fmt.Fprintf(&b, "  mutators: [{handler: header, config: {headers: {X-User: %q}}}]\n", template)
	}
	return b.Bytes()
}

// A reload that changes one thing of one rule of a large file (whose
// unchanged parts are decoded once and whose unchanged patterns are
// reused) decides by the new rule and only it: nothing of the rule as it
// was, nor of its unchanged neighbours sharing its handler lists, leaks
// into the changed rule, and the neighbours keep deciding as before.
func TestReloadDecidesByTheChangedRule(t *testing.T) {
	const n, changed = 1000, 500
	tmpl, newTmpl := "{{ print .Subject }}", "new-{{ print .Subject }}"
	base := reloadRules(n, tmpl, "[GET]")
	rewrite := func(old, new string) []byte {
		at := bytes.Index(base, []byte(fmt.Sprintf("- id: r%04d\n", changed)))
		end := at + bytes.Index(base[at+1:], []byte("- id: ")) + 1
		return append(append(bytes.Clone(base[:at]), bytes.Replace(base[at:end], []byte(old), []byte(new), 1)...), base[end:]...)
	}
	tests := []struct {
		name string
		data []byte
		// what request method the changed rule allows, and its X-User
		allow, deny, user string
	}{
		{"mutator template only", rewrite(tmpl, newTmpl), "GET", "POST", "new-anonymous"},
		{"match methods only", rewrite("[GET]", "[POST]"), "POST", "GET", "anonymous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scaleStore(t)
			for _, v := range []struct {
				data []byte
				name string
			}{{base, "v1"}, {tt.data, "v2"}} {
				// One file name: the second decode reuses the first's blocks.
				specs, err := rulestore.DecodeRules("reload.yaml", v.data)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Apply(specs, v.name); err != nil {
					t.Fatal(err)
				}
			}
			check := func(rule int, method, wantUser string, allowed bool) {
				t.Helper()
				r := &pipeline.Request{Method: method, Scheme: "https", Host: "api.test", RawPath: fmt.Sprintf("/svc-%04d", rule), Header: pipeline.Header{}}
				d := s.Current().Execute(context.Background(), r)
				defer d.Release()
				if d.Allowed != allowed {
					t.Fatalf("rule %d, %s: allowed = %v, want %v (%s)", rule, method, d.Allowed, allowed, d.Reason)
				}
				if allowed && d.Session.Header.Get("X-User") != wantUser {
					t.Errorf("rule %d, %s: X-User %q, want %q", rule, method, d.Session.Header.Get("X-User"), wantUser)
				}
			}
			check(changed, tt.allow, tt.user, true)
			check(changed, tt.deny, "", false)
			for _, neighbour := range []int{0, changed - 1, changed + 1, n - 1} {
				check(neighbour, "GET", "anonymous", true)
				check(neighbour, "POST", "", false)
			}
		})
	}
}
