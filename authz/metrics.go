package authz

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portcullis-authz/portcullis/pipeline"
)

// Metrics counts decisions by rule, outcome and reason and times them.
// Every label is bounded: rule ids by the rule set (series of rules that
// left it are dropped on reload, ForgetRules), reasons are stable ids
// from a fixed vocabulary, and neither paths, subjects nor tokens are
// ever labels. Recording a decision does not allocate once its series
// exists: the series are resolved once and kept in a copy-on-write map.
type Metrics struct {
	decisions *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	allow     prometheus.Observer // duration{decision="allow"}
	deny      prometheus.Observer
	// shadow counts the would-be decisions of shadow rules.
	shadow *prometheus.CounterVec

	series seriesCache[decisionKey, prometheus.Counter]
}

type decisionKey struct {
	rule, reason string
	allowed      bool
}

// LatencyBuckets are the histogram buckets of check and handler
// latencies, in seconds: fine below a millisecond, where cached checks
// land, and dense around Envoy's default 200ms ext_authz deadline, so a
// p99 near it is visible.
var LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .15, .2, .25, .5, 1}

// NewMetrics registers the decision metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_decisions_total",
			Help: "Access decisions by rule, outcome and reason (rule_id is empty when no rule matched).",
		}, []string{"rule_id", "decision", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_decision_duration_seconds",
			Help:    "Time to reach a decision, by outcome.",
			Buckets: LatencyBuckets,
		}, []string{"decision"}),
	}
	m.shadow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portcullis_shadow_decisions_total",
		Help: "Would-be decisions of rules in shadow mode, by rule, would-be outcome and reason; the requests were allowed.",
	}, []string{"rule_id", "would_decision", "reason"})
	m.allow = m.duration.WithLabelValues("allow")
	m.deny = m.duration.WithLabelValues("deny")
	reg.MustRegister(m.decisions, m.duration, m.shadow)
	return m
}

// ObserveDecision implements Observer.
func (m *Metrics) ObserveDecision(d pipeline.Decision) {
	k := decisionKey{rule: d.RuleID, reason: d.Reason, allowed: d.Allowed}
	c := m.series.get(k, func() prometheus.Counter {
		return m.decisions.WithLabelValues(k.rule, decisionLabel(k.allowed), boundedLabel(k.reason))
	})
	c.Inc()
	if d.Shadow {
		// Shadow decisions are rare (a rollout), so the series lookup
		// per call is not worth a cache.
		m.shadow.WithLabelValues(d.RuleID, decisionLabel(!d.WouldDeny()), boundedLabel(d.WouldReason)).Inc()
	}
	if d.Allowed {
		m.allow.Observe(d.Duration.Seconds())
	} else {
		m.deny.Observe(d.Duration.Seconds())
	}
}

// ForgetRules drops the decision series of rules that are not in snap,
// so that rules removed by reloads do not stay exported forever. Call it
// after each publish (Store.OnChange).
func (m *Metrics) ForgetRules(snap *pipeline.Snapshot) {
	if snap == nil {
		return
	}
	m.series.retain(func(k decisionKey) bool {
		if k.rule == "" || snap.Rule(k.rule) != nil {
			return true
		}
		m.decisions.DeletePartialMatch(prometheus.Labels{"rule_id": k.rule})
		m.shadow.DeletePartialMatch(prometheus.Labels{"rule_id": k.rule})
		return false
	})
}

func decisionLabel(allowed bool) string {
	if allowed {
		return "allow"
	}
	return "deny"
}

// boundedLabel passes reason ids through and replaces anything that does
// not look like one (a handler bug, say) with "other", so a label can
// never carry free text.
func boundedLabel(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > 64 {
		return "other"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' {
			return "other"
		}
	}
	return s
}

// seriesCache maps label sets to resolved series. Reads are a lock-free
// map lookup (no allocation); a new label set copies the map, which
// happens once per series.
type seriesCache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex // serialises writers
}

func (c *seriesCache[K, V]) get(k K, newSeries func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	v := newSeries()
	next := make(map[K]V, 1+lenOf(old))
	if old != nil {
		maps.Copy(next, *old)
	}
	next[k] = v
	c.m.Store(&next)
	return v
}

// retain keeps the entries keep returns true for.
func (c *seriesCache[K, V]) retain(keep func(K) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old == nil {
		return
	}
	next := make(map[K]V, len(*old))
	for k, v := range *old {
		if keep(k) {
			next[k] = v
		}
	}
	c.m.Store(&next)
}

func lenOf[K comparable, V any](m *map[K]V) int {
	if m == nil {
		return 0
	}
	return len(*m)
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
