package rulestore_test

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/rulestore"
)

// A published snapshot's warnings are logged once, then dropped from it:
// a large rule set would otherwise keep megabytes of them.
func TestStoreLogsWarningsAndDropsThem(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	s := rulestore.NewStore(pipelineConfig(), registry(), zap.New(core))
	doc := `[{"id":"r1","match":{"url":"http://h/<.*>","methods":[]},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]}]`
	specs, err := rulestore.DecodeRules("rules.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(specs, "v1"); err != nil {
		t.Fatal(err)
	}
	if got := logs.FilterMessageSnippet("match.methods is empty").Len(); got != 1 {
		t.Errorf("%d warnings logged, want 1: %v", got, logs.All())
	}
	if w := s.Current().Warnings; w != nil {
		t.Errorf("the snapshot in force keeps its warnings: %q", w)
	}
}

// A rule set with more warnings than maxLoggedWarnings (20) logs the
// first 20 one per line and then one line counting the rest by field,
// rather than a line per rule on every reload.
func TestStoreSummarisesManyWarnings(t *testing.T) {
	const rule = `{"id":"r%d","match":{"url":%q,"methods":%s},"authenticators":[{"handler":"anonymous"}],"authorizer":{"handler":"allow"},"mutators":[{"handler":"noop"}]%s}`
	var rules []string
	for i := range 28 {
		url, methods, upstream := fmt.Sprintf("http://h/m%d", i), `["GET"]`, ""
		switch {
		case i < 10: // match.methods is empty
			methods = "[]"
		case i < 25: // match.url's trailing-slash gap
			url = fmt.Sprintf("http://h/s%d/<.*>", i)
		default: // upstream is ignored
			upstream = `,"upstream":{"url":"http://u"}`
		}
		rules = append(rules, fmt.Sprintf(rule, i, url, methods, upstream))
	}
	specs, err := rulestore.DecodeRules("rules.json", []byte("["+strings.Join(rules, ",")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	s := rulestore.NewStore(pipelineConfig(), registry(), zap.New(core))
	if err := s.Apply(specs, "v1"); err != nil {
		t.Fatal(err)
	}
	entries := logs.All()
	if len(entries) != 21 {
		t.Fatalf("%d lines logged, want 20 warnings and a summary: %v", len(entries), entries)
	}
	for _, e := range entries[:20] {
		if !strings.HasPrefix(e.Message, "rules.json:") {
			t.Errorf("line %q is not a warning of the rule set", e.Message)
		}
	}
	if got := logs.FilterMessageSnippet("match.methods is empty").Len(); got != 10 {
		t.Errorf("%d empty-methods warnings logged one by one, want the first 10", got)
	}
	sum := entries[20]
	want := map[string]any{"version": "v1", "warnings": int64(28), "not_logged": int64(8), "by_field": "match.url: 5, upstream: 3"}
	if got := sum.ContextMap(); !strings.Contains(sum.Message, "rules validate") || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("summary %q %v, want fields %v", sum.Message, got, want)
	}
}
