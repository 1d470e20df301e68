package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are mes-calc's own, beside the platform's inbox and outbox ones.
type metrics struct {
	orders   *prometheus.CounterVec // by outcome: priced, needs_review, republished, cancelled
	calcTime prometheus.Histogram
	attempts prometheus.Histogram
	version  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		orders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_mescalc_orders_total", Help: "Orders calculated, by outcome (counted once committed).",
		}, []string{"outcome"}),
		calcTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fabrika_mescalc_calculation_seconds", Help: "Time to calculate an order: price, routing and schedule against the load.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		attempts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "fabrika_mescalc_calculation_attempts", Help: "Attempts an order's calculation took: more than one when a day it booked filled up meanwhile.",
			Buckets: []float64{1, 2, 3, 5, 10, 20, 50},
		}),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fabrika_mescalc_price_list_version", Help: "The price list version last published or loaded.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.orders, m.calcTime, m.attempts, m.version} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}
