package rulestore_test

import (
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
