package authz

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Metrics counts decisions by outcome and reason and times them. Reasons
// are stable ids from a fixed vocabulary, so label cardinality stays
// bounded; rule ids are not labels (10k rules would be 10k series).
type Metrics struct {
	decisions *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics registers the decision metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_decisions_total",
			Help: "Access decisions by outcome and reason.",
		}, []string{"decision", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_decision_duration_seconds",
			Help:    "Time to reach a decision.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"decision"}),
	}
	reg.MustRegister(m.decisions, m.duration)
	return m
}

// ObserveDecision implements Observer.
func (m *Metrics) ObserveDecision(d *pipeline.Decision) {
	decision := "deny"
	if d.Allowed {
		decision = "allow"
	}
	m.decisions.WithLabelValues(decision, d.Reason).Inc()
	m.duration.WithLabelValues(decision).Observe(d.Duration.Seconds())
}

// RegisterRuleReloads exports the rule store's reload counters as
// portcullis_rule_reloads_total (rule sets published) and
// portcullis_rule_reload_failures_total (rule sets rejected, the previous
// set staying in force). counts is read at scrape time, so the store stays
// the one place that counts.
func RegisterRuleReloads(reg prometheus.Registerer, counts func() (reloads, failures uint64)) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "portcullis_rule_reloads_total",
			Help: "Rule sets compiled and published.",
		}, func() float64 { r, _ := counts(); return float64(r) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "portcullis_rule_reload_failures_total",
			Help: "Rule sets rejected (unreadable, undecodable or invalid); the previous rules stay in force.",
		}, func() float64 { _, f := counts(); return float64(f) }),
	)
}

// RegisterRulesVersion exports portcullis_rules_version_info{version} 1
// for the rule snapshot in force (a file hash, or the control plane's
// version with an xds:// repository), read at scrape time; absent before
// the first load. Comparing it across instances shows a fleet converged.
func RegisterRulesVersion(reg prometheus.Registerer, snaps Snapshots) {
	reg.MustRegister(rulesVersion{snaps})
}

var rulesVersionDesc = prometheus.NewDesc("portcullis_rules_version_info",
	"The version of the rule set in force (always 1).", []string{"version"}, nil)

type rulesVersion struct{ snaps Snapshots }

func (rulesVersion) Describe(ch chan<- *prometheus.Desc) { ch <- rulesVersionDesc }

func (c rulesVersion) Collect(ch chan<- prometheus.Metric) {
	if s := c.snaps.Current(); s != nil {
		ch <- prometheus.MustNewConstMetric(rulesVersionDesc, prometheus.GaugeValue, 1, s.Version)
	}
}

// NewRegistry returns a Prometheus registry with the Go and process
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// RuleInfo is one line of /debug/rules.
type RuleInfo struct {
	ID      string   `json:"id"`
	URL     string   `json:"url"`
	Methods []string `json:"methods"`
	Source  string   `json:"source,omitempty"`
}

// NewDebugHandler serves /metrics, /debug/pprof/ and /debug/rules (the ids
// and matches of the rules in force, with the snapshot version). It
// belongs on a loopback listener: pprof and the rule list are for
// operators.
func NewDebugHandler(reg *prometheus.Registry, snaps Snapshots, status func() any) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/rules", func(w http.ResponseWriter, _ *http.Request) {
		out := struct {
			Version string     `json:"version"`
			Status  any        `json:"status,omitempty"`
			Rules   []RuleInfo `json:"rules"`
		}{Rules: []RuleInfo{}}
		if status != nil {
			out.Status = status()
		}
		if s := snaps.Current(); s != nil {
			out.Version = s.Version
			for _, r := range s.Rules() {
				ri := RuleInfo{ID: r.ID, Source: r.Spec.Source}
				if r.Spec.Match != nil {
					ri.URL, ri.Methods = r.Spec.Match.URL, r.Spec.Match.Methods
				}
				out.Rules = append(out.Rules, ri)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return mux
}
