package outbox

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of failed publishes (label kind of fabrika_outbox_publish_errors_total).
const (
	kindRefused     = "refused"
	kindUnavailable = "unavailable"
)

type metrics struct {
	published     prometheus.Counter
	failed        prometheus.Counter
	attemptErrors *prometheus.CounterVec
	latency       prometheus.Histogram
	pending       prometheus.Gauge
	errored       prometheus.Gauge
	oldestAge     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fabrika_outbox_published_total", Help: "Messages the broker acknowledged and the outbox deleted."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fabrika_outbox_failed_total", Help: "Messages that got status error after the last allowed attempt."}),
		attemptErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_outbox_publish_errors_total",
			Help: "Failed publishes: kind=refused spent an attempt (retried until max attempts), kind=unavailable did not (broker away)."}, []string{"kind"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fabrika_outbox_publish_seconds", Help: "Time from publish to broker acknowledgement.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fabrika_outbox_pending", Help: "Messages waiting to be published."}),
		errored: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fabrika_outbox_error_messages", Help: "Messages in status error, waiting for a person."}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fabrika_outbox_oldest_pending_age_seconds", Help: "Age of the oldest message waiting to be published."}),
	}
	// Every labelled series exists from the start, at zero, so that an
	// increase() over the first failure after a start is seen.
	for _, k := range []string{kindRefused, kindUnavailable} {
		m.attemptErrors.WithLabelValues(k)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.published, m.failed, m.attemptErrors, m.latency, m.pending, m.errored, m.oldestAge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register outbox metrics: %w", err)
		}
	}
	return m, nil
}
