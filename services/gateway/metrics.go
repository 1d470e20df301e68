package gateway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	upstream *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	signIns  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fabrika_gateway_upstream_duration_seconds", Help: "Proxied requests by upstream and status class, from the gateway's view.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"upstream", "class"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_gateway_refused_total", Help: "Requests the gateway refused before any upstream, by reason."}, []string{"reason"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_gateway_signins_total", Help: "Staff sign-in attempts by result."}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.upstream, m.refused, m.signIns} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) signIn(result string) { m.signIns.WithLabelValues(result).Inc() }
