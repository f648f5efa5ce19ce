package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/portcullis-authz/portcullis/authz"
	"github.com/portcullis-authz/portcullis/handlers/builtin"
	"github.com/portcullis-authz/portcullis/rulestore"
)

// serverMetrics is every metric the service exports, wired to the parts
// that feed them. Labels are bounded throughout: rule ids by the rule set,
// handlers by the registry, hosts, key set URLs and caches by the config;
// never a path, subject or token.
type serverMetrics struct {
	reg *prometheus.Registry
	// decisions is the checker's decision observer.
	decisions *authz.Metrics
	// handlers times each handler call (a step observer for the checker).
	handlers *authz.HandlerMetrics
	// grpc are the gRPC server's metric interceptors.
	grpc []grpc.ServerOption
}

// remoteCallBuckets span a cached-connection call to a slow identity
// provider, up to the outbound client's default 5s timeout.
var remoteCallBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// newServerMetrics registers the metrics of store, deps and this build on
// a new registry that also has the Go and process collectors, and starts
// observing deps' remote calls. now is the clock of the key set ages.
func newServerMetrics(store *rulestore.Store, deps *builtin.Deps, build buildInfo, now func() time.Time) *serverMetrics {
	reg := authz.NewRegistry()
	authz.RegisterRuleReloads(reg, func() (uint64, uint64) { st := store.Status(); return st.Reloads, st.Failures })
	authz.RegisterRulesVersion(reg, store)
	m := &serverMetrics{reg: reg, decisions: authz.NewMetrics(reg), handlers: authz.NewHandlerMetrics(reg)}
	store.OnChange(m.decisions.ForgetRules)

	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "portcullis_build_info",
		Help:        "The running binary's version, revision and Go version (always 1).",
		ConstLabels: prometheus.Labels{"version": build.Version, "revision": build.Revision, "go_version": build.GoVersion},
	})
	buildInfo.Set(1)
	reg.MustRegister(buildInfo, &opsCollector{store: store, deps: deps, now: now})

	calls := &callMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_remote_call_duration_seconds",
			Help:    "Time of the handlers' remote calls, by endpoint host and outcome (2xx..5xx, or timeout, canceled, error when no answer came).",
			Buckets: remoteCallBuckets,
		}, []string{"host", "outcome"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_remote_call_errors_total",
			Help: "Remote calls that got no usable answer (timeout, canceled, error) or a 5xx (server_error), by endpoint host.",
		}, []string{"host", "error"}),
	}
	reg.MustRegister(calls.duration, calls.errors)
	deps.ObserveCalls(calls)

	srv := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(authz.LatencyBuckets)))
	reg.MustRegister(srv)
	m.grpc = []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(srv.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(srv.StreamServerInterceptor()),
	}
	return m
}

// checkerOptions are the Checker options that feed the metrics.
func (m *serverMetrics) checkerOptions() []authz.CheckerOption {
	return []authz.CheckerOption{authz.WithStepObservers(m.handlers)}
}

// callMetrics times the handlers' remote calls (a builtin.CallObserver).
// Hosts come from configured endpoint URLs, which cannot be templated, so
// the host label is bounded by the config.
type callMetrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

// StartCall implements builtin.CallObserver.
func (c *callMetrics) StartCall(ctx context.Context, req *http.Request) (context.Context, func(int, error)) {
	start := time.Now()
	host := req.URL.Host
	return ctx, func(status int, err error) {
		outcome := callOutcome(status, err)
		c.duration.WithLabelValues(host, outcome).Observe(time.Since(start).Seconds())
		switch {
		case err != nil:
			c.errors.WithLabelValues(host, outcome).Inc()
		case status >= 500:
			c.errors.WithLabelValues(host, "server_error").Inc()
		}
	}
}

// callOutcome is the status class of an answer, or the class of the
// failure when none came: a closed set.
func callOutcome(status int, err error) string {
	var ne net.Error
	switch {
	case err == nil && status >= 100 && status < 600:
		return strconv.Itoa(status/100) + "xx"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error"
}

// opsCollector reads, at scrape time, the state the rule store and the
// handlers' dependencies already keep: rule count and last reload, cache
// counters, circuit breakers and key sets. Nothing is counted twice.
type opsCollector struct {
	store *rulestore.Store
	deps  *builtin.Deps
	now   func() time.Time
}

var (
	rulesLoadedDesc = prometheus.NewDesc("portcullis_rules_loaded",
		"Rules in the snapshot in force.", nil, nil)
	lastReloadDesc = prometheus.NewDesc("portcullis_rule_last_reload_success_timestamp_seconds",
		"When the rule snapshot in force was published (Unix time); absent before the first.", nil, nil)
	cacheHitsDesc = prometheus.NewDesc("portcullis_cache_hits_total",
		"Lookups answered from a shared handler cache.", []string{"cache"}, nil)
	cacheMissesDesc = prometheus.NewDesc("portcullis_cache_misses_total",
		"Lookups a shared handler cache could not answer (absent or expired).", []string{"cache"}, nil)
	cacheEvictionsDesc = prometheus.NewDesc("portcullis_cache_evictions_total",
		"Live entries a shared handler cache dropped to stay within its bounds.", []string{"cache"}, nil)
	cacheEntriesDesc = prometheus.NewDesc("portcullis_cache_entries",
		"Entries a shared handler cache holds.", []string{"cache"}, nil)
	breakersDesc = prometheus.NewDesc("portcullis_circuit_breakers",
		"Circuit breakers of remote endpoints by host and state (closed, open, half_open).", []string{"host", "state"}, nil)
	keySetAgeDesc = prometheus.NewDesc("portcullis_keyset_age_seconds",
		"Time since a key set last loaded; absent when it never did.", []string{"url", "use"}, nil)
	keySetKeysDesc = prometheus.NewDesc("portcullis_keyset_keys",
		"Usable keys in a key set.", []string{"url", "use"}, nil)
	keySetErrorsDesc = prometheus.NewDesc("portcullis_keyset_refresh_errors_total",
		"Failed fetches of a key set since a rule first used it.", []string{"url", "use"}, nil)
	keySetStateDesc = prometheus.NewDesc("portcullis_keyset_state",
		"1 for a key set's state: present, stale (refreshes fail, the last good keys serve) or missing (no usable keys).",
		[]string{"url", "use", "state"}, nil)
)

var (
	breakerStates = []string{"closed", "open", "half_open"}
	keySetStates  = []string{"present", "stale", "missing"}
)

// Describe implements prometheus.Collector.
func (*opsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{rulesLoadedDesc, lastReloadDesc, cacheHitsDesc, cacheMissesDesc,
		cacheEvictionsDesc, cacheEntriesDesc, breakersDesc, keySetAgeDesc, keySetKeysDesc, keySetErrorsDesc, keySetStateDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Status()
	ch <- prometheus.MustNewConstMetric(rulesLoadedDesc, prometheus.GaugeValue, float64(st.Rules))
	if !st.LoadedAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastReloadDesc, prometheus.GaugeValue, float64(st.LoadedAt.UnixNano())/1e9)
	}

	for _, s := range c.deps.CacheStats() {
		ch <- prometheus.MustNewConstMetric(cacheHitsDesc, prometheus.CounterValue, float64(s.Hits), s.Cache)
		ch <- prometheus.MustNewConstMetric(cacheMissesDesc, prometheus.CounterValue, float64(s.Misses), s.Cache)
		ch <- prometheus.MustNewConstMetric(cacheEvictionsDesc, prometheus.CounterValue, float64(s.Evictions), s.Cache)
		ch <- prometheus.MustNewConstMetric(cacheEntriesDesc, prometheus.GaugeValue, float64(s.Entries), s.Cache)
	}

	// Breakers are per URL; several URLs on one host add up, so the host
	// label stays one series per state.
	byHost := map[string]map[string]int{}
	for _, b := range c.deps.BreakerStates() {
		host := b.URL
		if u, err := url.Parse(b.URL); err == nil && u.Host != "" {
			host = u.Host
		}
		if byHost[host] == nil {
			byHost[host] = map[string]int{}
		}
		byHost[host][b.State]++
	}
	for host, n := range byHost {
		for _, state := range breakerStates {
			ch <- prometheus.MustNewConstMetric(breakersDesc, prometheus.GaugeValue, float64(n[state]), host, state)
		}
	}

	now := c.now()
	for _, ks := range c.deps.KeySets() {
		if ks.LastSuccess != nil {
			ch <- prometheus.MustNewConstMetric(keySetAgeDesc, prometheus.GaugeValue, now.Sub(*ks.LastSuccess).Seconds(), ks.URL, ks.Use)
		}
		ch <- prometheus.MustNewConstMetric(keySetKeysDesc, prometheus.GaugeValue, float64(ks.Keys), ks.URL, ks.Use)
		ch <- prometheus.MustNewConstMetric(keySetErrorsDesc, prometheus.CounterValue, float64(ks.FetchErrors), ks.URL, ks.Use)
		for _, state := range keySetStates {
			v := 0.0
			if ks.State == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(keySetStateDesc, prometheus.GaugeValue, v, ks.URL, ks.Use, state)
		}
	}
}

// withLogLevel adds GET and PUT /debug/log/level to the metrics listener's
// handler: zap's level endpoint (GET answers {"level":"info"}; PUT takes
// the same JSON, or level=debug as a form), so an operator can turn debug
// decision lines on and off without a restart. A later SIGHUP applies the
// config file's log.level again.
func withLogLevel(next http.Handler, level zap.AtomicLevel, log *zap.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", next)
	mux.HandleFunc("/debug/log/level", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPut {
			w.Header().Set("Allow", "GET, PUT")
			http.Error(w, "use GET or PUT", http.StatusMethodNotAllowed)
			return
		}
		before := level.Level()
		level.ServeHTTP(w, r)
		if after := level.Level(); after != before {
			log.Info("log level changed", zap.String("log_level", after.String()), zap.String("by", "admin endpoint"))
		}
	})
	return mux
}
