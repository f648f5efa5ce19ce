package config_test

import (
	"testing"

	"github.com/portcullis-authz/portcullis/cmd/portcullis/config"
)

// serve.metrics.explain is off unless set, and decodes strictly.
func TestMetricsExplainKey(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want bool
	}{
		{"serve: {metrics: {port: 9000}}\n", false},
		{"serve: {metrics: {explain: true}}\n", true},
	} {
		cfg, _, err := config.Load("c.yaml", []byte(tt.yaml), nil)
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		if cfg.Serve.Metrics.Explain != tt.want {
			t.Errorf("%q: explain %v, want %v", tt.yaml, cfg.Serve.Metrics.Explain, tt.want)
		}
	}
	if _, _, err := config.Load("c.yaml", []byte("serve: {metrics: {explain: yes please}}\n"), nil); err == nil {
		t.Error("explain: a value that is not true or false must be an error")
	}
}
