package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StuckCollector is the gauge fabrika_crm_orders_stuck{status}: how many
// orders have stayed in a status longer than its stuck threshold, counted
// in the database at each scrape (the alert FabrikaOrdersStuck uses it).
// Every status with a threshold has a series, at zero when none is stuck;
// while the database does not answer there is none (the scrape still
// serves the other metrics) and the error is logged.
func (a *App) StuckCollector(log *slog.Logger) prometheus.Collector {
	return &stuckCollector{a: a, log: log, desc: prometheus.NewDesc("fabrika_crm_orders_stuck",
		"Orders in a status for longer than its stuck threshold, from the database.", []string{"status"}, nil)}
}

type stuckCollector struct {
	a    *App
	log  *slog.Logger
	desc *prometheus.Desc
}

func (c *stuckCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stuckCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.a.store.CountStuck(ctx, c.a.db, c.a.thresholds, c.a.now())
	if err != nil {
		c.log.Error("crm: count stuck orders for /metrics", "error", err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}
