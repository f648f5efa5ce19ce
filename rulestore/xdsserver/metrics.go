package xdsserver

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the control plane's counters. Node ids are not labels:
// a fleet of thousands would be thousands of series; /debug/nodes has
// them.
type metrics struct {
	acks, nacks, published prometheus.Counter
	streams                prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		acks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_xds_acks_total", Help: "Rule sets nodes reported applied (ACK).",
		}),
		nacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_xds_nacks_total", Help: "Rule sets nodes rejected (NACK); they keep their previous rules.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcullis_xds_publishes_total", Help: "Times the control plane published its rule sets.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portcullis_xds_connected_nodes", Help: "Open xDS streams of nodes.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.acks, m.nacks, m.published, m.streams)
	}
	return m
}
