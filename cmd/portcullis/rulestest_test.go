package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesTestPasses runs a file whose requests carry a token minted
// from a declared key (checked against the JWKS the command serves) and a
// cookie checked by a declared session stub; and the quickstart's own
// tests, as .ci/run does.
func TestRulesTestPasses(t *testing.T) {
	for _, file := range []string{"testdata/rulestest/pass.test.yaml", "../../examples/quickstart/rules.test.yml"} {
		t.Run(file, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"rules", "test", file}, &out, &errb); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
			}
			if strings.Contains(out.String(), "FAIL") || !strings.Contains(out.String(), " 0 failed") {
				t.Errorf("report:\n%s", out.String())
			}
		})
	}
}

// TestRulesTestFails checks that a failing test exits 1 with a readable
// diff (each differing field, got and want, then the explanation) in
// text, and the same facts in the JSON report.
func TestRulesTestFails(t *testing.T) {
	file := "testdata/rulestest/fail.test.yaml"
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"rules", "test", file}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out.String())
	}
	if want := "portcullis: rules test: 1 of 2 tests failed\n"; errb.String() != want {
		t.Errorf("stderr %q, want %q", errb.String(), want)
	}
	golden(t, "rulestest/fail.txt", out.Bytes())

	out.Reset()
	if code := run(context.Background(), []string{"rules", "test", "--json", file}, &out, &errb); code != 1 {
		t.Fatalf("--json: exit %d, want 1", code)
	}
	var report struct {
		Passed, Failed int
		Results        []ruleTestResult
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out.String())
	}
	if report.Passed != 1 || report.Failed != 1 || len(report.Results) != 2 {
		t.Fatalf("report %+v", report)
	}
	bad := report.Results[1]
	if bad.Passed || len(bad.Failures) == 0 || bad.Failures[0] != (ruleTestMismatch{"decision", "deny", "allow"}) || bad.Explain == nil ||
		bad.Explain.Answer.Reason != "jwt_issuer_untrusted" {
		t.Errorf("failed result %+v", bad)
	}
}

// TestRulesTestFileErrors covers files that cannot run: each is exit 1
// with one line naming the file and the problem.
func TestRulesTestFileErrors(t *testing.T) {
	dir := t.TempDir()
	cfg, err := os.ReadFile("testdata/rulestest/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs("testdata/rulestest/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfgNoRepo := strings.Replace(string(cfg), "file://rules.yaml", "file://"+rules, 1)
	tests := []struct {
		name, file, want string
	}{
		{"undeclared stub", "config: config.yaml\nkeys: {idp: {}}\ntests: [{name: x, request: {url: https://app.test/}, expect: {decision: deny}}]\n",
			`{{stub "kratos"}}: "kratos" is not declared under stubs`},
		{"unknown field", "tests: [{name: x, request: {url: https://app.test/}, expect: {desicion: deny}}]\n", `unknown field "desicion"`},
		{"no tests", "config: config.yaml\n", "tests: no tests in the file"},
		{"undeclared key", "config: config.yaml\nkeys: {idp: {}}\nstubs: {kratos: {}}\ntests: [{name: x, request: {url: https://api.test/api/x, token: {key: other}}, expect: {decision: deny}}]\n",
			`x: request.token: key "other" is not declared under keys`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfgNoRepo), 0o644); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "t.test.yaml")
			if err := os.WriteFile(file, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"rules", "test", file}, &out, &errb)
			if code != 1 || !strings.Contains(errb.String(), tt.want) || strings.Count(errb.String(), "\n") != 1 {
				t.Errorf("exit %d, stderr %q: want 1 and one line containing %q", code, errb.String(), tt.want)
			}
		})
	}
}
