package web

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	upstream *prometheus.HistogramVec
	refused  *prometheus.CounterVec
	signIns  *prometheus.CounterVec

	// byUpstream holds the upstream histogram's series of each upstream
	// by status class (2xx to 5xx), looked up once rather than per request.
	byUpstream map[string]*[4]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, upstreams []string) (*metrics, error) {
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
	m.byUpstream = map[string]*[4]prometheus.Observer{}
	for _, name := range upstreams {
		var obs [4]prometheus.Observer
		for _, code := range []int{200, 300, 400, 500} {
			i, class := statusClass(code)
			obs[i] = m.upstream.WithLabelValues(name, class)
		}
		m.byUpstream[name] = &obs
	}
	return m, nil
}

// statusClass returns a status code's class, as an index and as a label.
func statusClass(code int) (int, string) {
	switch {
	case code >= 500:
		return 3, "5xx"
	case code >= 400:
		return 2, "4xx"
	case code >= 300:
		return 1, "3xx"
	default:
		return 0, "2xx"
	}
}

// observeUpstream records a proxied request's duration.
func (m *metrics) observeUpstream(upstream string, code int, d time.Duration) {
	i, class := statusClass(code)
	if obs, ok := m.byUpstream[upstream]; ok {
		obs[i].Observe(d.Seconds())
		return
	}
	m.upstream.WithLabelValues(upstream, class).Observe(d.Seconds())
}

func (m *metrics) signIn(result string) { m.signIns.WithLabelValues(result).Inc() }
