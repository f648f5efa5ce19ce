package config

import "fmt"

// MetricsListener is the metrics and debug listener: /metrics,
// /debug/pprof, /debug/rules and, when Explain is on, POST
// /debug/explain.
type MetricsListener struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	TLS  TLS    `json:"tls"`
	// Explain serves POST /debug/explain (default false): it judges a
	// request described in the body by the rules in force, calling remote
	// handlers for real, and answers with every step and error text, so
	// it belongs on a listener only operators reach.
	Explain bool `json:"explain"`
}

// Addr returns host:port.
func (l MetricsListener) Addr() string { return fmt.Sprintf("%s:%d", l.Host, l.Port) }
