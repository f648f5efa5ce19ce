package config_test

import (
	"fmt"
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// TestLogDecisions: log.decisions reads as the sampling of allowed
// decisions, and any other value is one error line naming the key.
func TestLogDecisions(t *testing.T) {
	tests := []struct {
		value   string // "-": not set
		every   uint64
		invalid bool
	}{
		{value: "-", every: 1},
		{value: "all", every: 1},
		{value: "denied", every: 0},
		{value: "sample:1", every: 1},
		{value: "sample:100", every: 100},
		{value: "sample:0", invalid: true},
		{value: "sample:-1", invalid: true},
		{value: "sample:", invalid: true},
		{value: "sample:0.5", invalid: true},
		{value: "sample:1e3", invalid: true},
		{value: "allowed", invalid: true},
		{value: "", invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			yaml := fmt.Sprintf("log:\n  decisions: '%s'\n", tt.value)
			if tt.value == "-" {
				yaml = ""
			}
			cfg, _, err := config.Load("c.yaml", []byte(yaml), nil)
			if tt.invalid {
				want := fmt.Sprintf(`c.yaml:2: log.decisions: %q is not all, denied or sample:N with N a whole number from 1`, tt.value)
				if err == nil || err.Error() != want {
					t.Fatalf("err = %v, want %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if every, err := cfg.Log.DecisionSampling(); err != nil || every != tt.every {
				t.Fatalf("DecisionSampling() = %d, %v, want %d", every, err, tt.every)
			}
		})
	}
}

// TestLogDecisionsFromEnvironment: the key has its environment override.
func TestLogDecisionsFromEnvironment(t *testing.T) {
	cfg, _, err := config.Load("", nil, []string{"PORTCULLIS_LOG_DECISIONS=sample:7"})
	if err != nil {
		t.Fatal(err)
	}
	if every, err := cfg.Log.DecisionSampling(); err != nil || every != 7 {
		t.Fatalf("DecisionSampling() = %d, %v", every, err)
	}
}
