package inbox

import (
	"context"
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

func newMetrics(reg prometheus.Registerer, open prometheus.Collector) (*metrics, error) {
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
	for _, c := range []prometheus.Collector{m.processed, m.duplicates, m.failures, m.deadLetters, m.batchSplits, m.latency, open} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register inbox metrics: %w", err)
		}
	}
	return m, nil
}

// start makes every labelled counter of consumer exist at zero, so that
// increase() sees its first increment after a start, which a series that
// appears at 1 would hide.
func (m *metrics) start(consumer string) {
	for _, c := range []*prometheus.CounterVec{m.processed, m.duplicates, m.failures, m.deadLetters, m.batchSplits} {
		c.WithLabelValues(consumer)
	}
}

// openDeadLetters is the gauge fabrika_inbox_dead_letters_open, read from
// the dead_letter table at each scrape: it says how many dead letters wait
// for a person, and, unlike a counter, survives restarts (the alert
// FabrikaInboxDeadLetter uses it). Every subscribed consumer has a series,
// at zero when it has none.
type openDeadLetters struct {
	in   *Inbox
	desc *prometheus.Desc
}

func newOpenDeadLetters(in *Inbox) *openDeadLetters {
	return &openDeadLetters{in: in, desc: prometheus.NewDesc("fabrika_inbox_dead_letters_open",
		"Dead letters not yet replayed or discarded, from the database.", []string{"consumer"}, nil)}
}

func (c *openDeadLetters) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *openDeadLetters) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts := map[string]float64{}
	for _, name := range c.in.consumers() {
		counts[name] = 0
	}
	rows, err := c.in.db.QueryContext(ctx, `SELECT consumer, COUNT(*) FROM dead_letter WHERE status = 'open' GROUP BY consumer`)
	if err != nil {
		// No series rather than a failed scrape: the service's other
		// metrics still matter while its database is away.
		c.in.log.Warn("inbox: count open dead letters", "error", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var consumer string
		var n float64
		if err := rows.Scan(&consumer, &n); err != nil {
			c.in.log.Warn("inbox: count open dead letters", "error", err)
			return
		}
		counts[consumer] = n
	}
	if err := rows.Err(); err != nil {
		c.in.log.Warn("inbox: count open dead letters", "error", err)
		return
	}
	for consumer, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, consumer)
	}
}

func (m *metrics) handled(consumer string, dup bool, d time.Duration) {
	if dup {
		m.duplicates.WithLabelValues(consumer).Inc()
		return
	}
	m.processed.WithLabelValues(consumer).Inc()
	m.latency.WithLabelValues(consumer).Observe(d.Seconds())
}
