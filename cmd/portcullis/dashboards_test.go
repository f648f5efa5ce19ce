package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"
)

var (
	dashboardFile = filepath.Join("..", "..", "examples", "grafana", "portcullis.json")
	alertsFile    = filepath.Join("..", "..", "examples", "prometheus", "alerts.yaml")
)

// PromQL pieces that hold no metric name, removed before names are read:
// string literals (label values, Grafana variables), label matchers, range
// and subquery brackets, and grouping clauses.
var (
	promStrings  = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*'|`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promKeywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"inf": true, "nan": true, "Inf": true, "NaN": true,
	}
)

// metricNames returns the metric names expr reads: identifiers that are
// neither functions (followed by "("), keywords, nor inside strings,
// label matchers, ranges or grouping clauses.
func metricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsRune("0123456789.", rune(e[loc[0]-1])) {
			continue // the unit or exponent of a number: 5m, 1e3
		}
		if strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") || promKeywords[name] {
			continue // a function or aggregation, or a keyword
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesFromPromQL(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`rate(portcullis_nope_total{job=~"$job", reason="x_total"}[5m])`, []string{"portcullis_nope_total"}},
		{`sum by (le, host) (rate(a_bucket[$__rate_interval])) / ignoring(x) b`, []string{"a_bucket", "b"}},
		{`time() - max(last_ts) > 6 * 3600`, []string{"last_ts"}},
		{"x > 3 * (y offset 5m) and bool z", []string{"x", "y", "z"}},
		{`histogram_quantile(0.99, sum by (job, le) (rate(h_bucket[5m]))) > 0.15`, []string{"h_bucket"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// exportedNames are the sample names of mfs: a histogram's _bucket, _sum
// and _count, a summary's _sum and _count, every other family's name.
func exportedNames(mfs map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, mf := range mfs {
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out
}

// dashboardExprs returns every query of the Grafana dashboard by panel
// title, with its variables' queries.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Fatalf("%s: no title or uid", dashboardFile)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			out[p.Title+"#"+string(rune('A'+i))] = tg.Expr
		}
	}
	return out
}

// alertExprs returns every alert's expression by alert name, decoding the
// rule file strictly.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("%s: rule %q needs alert, expr, labels.severity and annotations.summary", alertsFile, r.Alert)
			}
			if _, dup := out[r.Alert]; dup {
				t.Errorf("%s: alert %q twice", alertsFile, r.Alert)
			}
			out[r.Alert] = r.Expr
		}
	}
	return out
}

// TestDashboardsAndAlertsUseExportedMetrics: every metric name read by a
// dashboard query or an alert is one the service exports after a scripted
// run, and the dashboard and alerts cover what issue #12 asks of them.
func TestDashboardsAndAlertsUseExportedMetrics(t *testing.T) {
	r := newMetricsRig(t)
	exported := exportedNames(r.scriptedRun(t))

	used := map[string]bool{}
	checkAll := func(file string, exprs map[string]string) {
		for where, expr := range exprs {
			names := metricNames(expr)
			if len(names) == 0 {
				t.Errorf("%s: %s reads no metric: %s", file, where, expr)
			}
			for _, n := range names {
				used[n] = true
				if !exported[n] {
					t.Errorf("%s: %s reads %s, which Portcullis does not export", file, where, n)
				}
			}
		}
	}
	dash := dashboardExprs(t)
	alerts := alertExprs(t)
	checkAll(dashboardFile, dash)
	checkAll(alertsFile, alerts)

	// What the dashboard must show and the alerts must watch.
	for _, n := range []string{
		"portcullis_decisions_total", "portcullis_decision_duration_seconds_bucket",
		"portcullis_handler_duration_seconds_bucket", "portcullis_remote_call_duration_seconds_bucket",
		"portcullis_remote_call_errors_total", "portcullis_cache_hits_total", "portcullis_cache_misses_total",
		"portcullis_circuit_breakers", "portcullis_keyset_age_seconds", "portcullis_rule_reloads_total",
		"portcullis_rule_reload_failures_total", "portcullis_rules_loaded",
	} {
		if !used[n] {
			t.Errorf("no dashboard panel or alert reads %s", n)
		}
	}
	for _, a := range []string{
		"PortcullisRuleReloadFailing", "PortcullisKeySetStale", "PortcullisCircuitBreakerOpen",
		"PortcullisDenyRateSpike", "PortcullisCheckLatencyNearDeadline",
	} {
		if _, ok := alerts[a]; !ok {
			var names []string
			for n := range alerts {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Errorf("alert %s missing; have %v", a, names)
		}
	}
}
