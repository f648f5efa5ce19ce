package authz_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/envoy"
)

// The version of the rules that decided is on every decision line and in
// a metric, so a fleet fed by one control plane can be seen converge.
func TestRulesVersionInDecisionLogAndMetric(t *testing.T) {
	st := &store{}
	reg := authz.NewRegistry()
	authz.RegisterRulesVersion(reg, st)
	if got := versionSeries(t, reg); got != "" {
		t.Fatalf("series before any rules: %s", got)
	}
	snap := snapshot(t)
	snap.Version = "v-abc"
	st.s.Store(snap)

	core, logs := observer.New(zap.InfoLevel)
	c := authz.NewChecker(st, zap.New(core), nil, testBudget)
	r, err := envoy.ToRequest(checkReq("GET", "/public/x", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(context.Background(), checkReq("GET", "/public/x", nil)); err != nil {
		t.Fatal(err)
	}
	if d := c.Decide(context.Background(), r, nil); d.RulesVersion != "v-abc" {
		t.Errorf("decision RulesVersion %q", d.RulesVersion)
	}
	lines := logs.FilterMessage("decision").All()
	if len(lines) != 1 || lines[0].ContextMap()["rules_version"] != "v-abc" {
		t.Fatalf("decision lines %v", lines)
	}
	if got := versionSeries(t, reg); got != "version=v-abc:1" {
		t.Fatalf("portcullis_rules_version_info: %s", got)
	}
}

// versionSeries renders portcullis_rules_version_info's series as
// "label=value:gauge" lines.
func versionSeries(t *testing.T, reg prometheus.Gatherer) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "portcullis_rules_version_info" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				out = append(out, fmt.Sprintf("%s=%s:%g", l.GetName(), l.GetValue(), m.GetGauge().GetValue()))
			}
		}
	}
	return strings.Join(out, "\n")
}
