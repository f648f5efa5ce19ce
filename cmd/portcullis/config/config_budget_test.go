package config_test

import (
	"testing"
	"time"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// TestCheckBudgetKeys covers serve.check_timeout and serve.deadline_margin
// (issue #9 item 1): their defaults fit Envoy's default 200ms, durations
// come from the file or the environment, and a value that cannot be a
// budget is one line naming the key.
func TestCheckBudgetKeys(t *testing.T) {
	tests := []struct {
		name            string
		yaml            string
		env             []string
		timeout, margin time.Duration
		err             string
	}{
		{name: "defaults", timeout: 180 * time.Millisecond, margin: 15 * time.Millisecond},
		{name: "from the file", yaml: "serve:\n  check_timeout: 1.5s\n  deadline_margin: 0s\n",
			timeout: 1500 * time.Millisecond, margin: 0},
		{name: "from the environment", env: []string{"PORTCULLIS_SERVE_CHECK_TIMEOUT=90ms", "PORTCULLIS_SERVE_DEADLINE_MARGIN=5ms"},
			timeout: 90 * time.Millisecond, margin: 5 * time.Millisecond},
		{name: "not a duration", yaml: "serve:\n  check_timeout: soon\n",
			err: `c.yaml:2: serve.check_timeout: must be a duration such as 180ms, not "soon"`},
		{name: "bare number is nanoseconds, refused", yaml: "serve:\n  check_timeout: 180\n",
			err: "c.yaml:2: serve.check_timeout: 180ns is too short; write a duration such as 180ms"},
		{name: "negative margin", yaml: "serve:\n  deadline_margin: -1ms\n",
			err: "c.yaml:2: serve.deadline_margin: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Load("c.yaml", []byte(tt.yaml), tt.env)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Serve.CheckTimeout != tt.timeout || cfg.Serve.DeadlineMargin != tt.margin {
				t.Fatalf("check_timeout %s, deadline_margin %s; want %s, %s", cfg.Serve.CheckTimeout, cfg.Serve.DeadlineMargin, tt.timeout, tt.margin)
			}
		})
	}
}
