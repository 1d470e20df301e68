package inbox

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	processed   *prometheus.CounterVec
	duplicates  *prometheus.CounterVec
	failures    *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	batchSplits *prometheus.CounterVec
	latency     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_inbox_processed_total", Help: "Messages processed and acknowledged."}, []string{"consumer"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_inbox_duplicates_total", Help: "Deliveries of messages already processed (acknowledged, skipped)."}, []string{"consumer"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_inbox_handler_failures_total", Help: "Handler failures that will be redelivered."}, []string{"consumer"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_inbox_dead_letters_total", Help: "Messages dead-lettered: they need a person."}, []string{"consumer"}),
		batchSplits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_inbox_batch_splits_total", Help: "Batches abandoned for a deadlock or serialization failure and run a message per transaction."}, []string{"consumer"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fabrika_inbox_handle_seconds", Help: "Time to process a message, transaction included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"consumer"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.processed, m.duplicates, m.failures, m.deadLetters, m.batchSplits, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register inbox metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) handled(consumer string, dup bool, d time.Duration) {
	if dup {
		m.duplicates.WithLabelValues(consumer).Inc()
		return
	}
	m.processed.WithLabelValues(consumer).Inc()
	m.latency.WithLabelValues(consumer).Observe(d.Seconds())
}
