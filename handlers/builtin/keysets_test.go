package builtin_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/pipeline"
)

// TestKeySetsReportsWhatRulesUse: KeySets lists the jwt verification sets
// and id_token signing sets of the rules in force, with their state, and
// forgets a verification set once its rules are gone.
func TestKeySetsReportsWhatRulesUse(t *testing.T) {
	deps := builtin.NewDeps(nil)
	defer deps.Close()
	reg := pipeline.NewRegistry()
	builtin.Register(reg, deps)
	verify, err := filepath.Abs(filepath.Join(fixtures, "e2e", "jwks-authn.json"))
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "absent.json")
	on := map[string]pipeline.HandlerConfig{"jwt": {Enabled: true}, "id_token": {Enabled: true}, "allow": {Enabled: true}, "json": {Enabled: true}}
	cfg := pipeline.Config{Authenticators: on, Authorizers: on, Mutators: on, ErrorHandlers: on}
	snap, err := pipeline.Compile([]pipeline.RuleSpec{{
		ID:    "r",
		Match: &pipeline.MatchSpec{URL: "http://h/<.*>", Methods: []string{"GET"}},
		Authenticators: []pipeline.HandlerSpec{{Handler: "jwt", Config: map[string]any{
			"jwks_urls": []any{"file://" + verify}, "trusted_issuers": []any{"https://idp.test/"}}}},
		Authorizer: &pipeline.HandlerSpec{Handler: "allow"},
		Mutators: []pipeline.HandlerSpec{{Handler: "id_token", Config: map[string]any{
			"issuer_url": "https://gw.test/", "jwks_url": "file://" + missing}}},
	}}, cfg, reg)
	if err != nil {
		t.Fatalf("a missing signing key set must not fail the rule: %v", err)
	}

	// The verification set loads in the background (Deps runs the cache).
	var sign, ver builtin.KeySet
	deadline := time.Now().Add(time.Minute)
	for ver.State != "present" {
		sets := deps.KeySets()
		if len(sets) != 2 {
			t.Fatalf("KeySets = %+v, want two", sets)
		}
		for _, s := range sets {
			if s.Use == builtin.KeySetSign {
				sign = s
			} else {
				ver = s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("verification set never loaded: %+v", sets)
		}
		time.Sleep(time.Millisecond)
	}
	if sign.URL != "file://"+missing || sign.Use != builtin.KeySetSign || sign.State != "missing" || sign.Keys != 0 ||
		sign.LastSuccess != nil || !strings.Contains(sign.Error, "no such file") {
		t.Errorf("signing set %+v", sign)
	}
	if ver.URL != "file://"+verify || ver.Use != builtin.KeySetVerify || ver.Keys == 0 || ver.LastSuccess == nil || ver.Error != "" {
		t.Errorf("verification set %+v", ver)
	}

	snap.Close()
	for _, s := range deps.KeySets() {
		if s.Use == builtin.KeySetVerify {
			t.Errorf("released verification set still reported: %+v", s)
		}
	}
}
