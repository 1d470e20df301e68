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
	skipped     *prometheus.CounterVec
	latency     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, db ...prometheus.Collector) (*metrics, error) {
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
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_inbox_skipped_total", Help: "Messages the service has nothing to do with (another channel's orders), acknowledged without a transaction; also counted as processed."}, []string{"consumer"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fabrika_inbox_handle_seconds", Help: "Time to process a message, transaction included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"consumer"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range append([]prometheus.Collector{m.processed, m.duplicates, m.failures, m.deadLetters, m.batchSplits, m.skipped, m.latency}, db...) {
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
	for _, c := range []*prometheus.CounterVec{m.processed, m.duplicates, m.failures, m.deadLetters, m.batchSplits, m.skipped} {
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

// consumerLag is the pair of gauges fabrika_inbox_consumer_pending (stream
// messages not yet delivered to the durable consumer) and
// fabrika_inbox_consumer_ack_pending (delivered, not yet acknowledged), read
// from JetStream's consumer info at each scrape with a short timeout (the
// alert FabrikaConsumerLagging uses them). The instances of a service share
// their consumers, so each reports the same figures. A consumer that does
// not exist yet, or a broker that does not answer, has no series (the
// broker's absence is fabrika_broker_connected).
type consumerLag struct {
	in                *Inbox
	pending, ackPends *prometheus.Desc
}

func newConsumerLag(in *Inbox) *consumerLag {
	return &consumerLag{in: in,
		pending: prometheus.NewDesc("fabrika_inbox_consumer_pending",
			"Stream messages not yet delivered to the durable consumer, from JetStream.", []string{"consumer"}, nil),
		ackPends: prometheus.NewDesc("fabrika_inbox_consumer_ack_pending",
			"Messages delivered to the durable consumer and not yet acknowledged, from JetStream.", []string{"consumer"}, nil)}
}

func (c *consumerLag) Describe(ch chan<- *prometheus.Desc) { ch <- c.pending; ch <- c.ackPends }

func (c *consumerLag) Collect(ch chan<- prometheus.Metric) {
	if c.in.js == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, name := range c.in.consumers() {
		cons, err := c.in.js.Consumer(ctx, c.in.cfg.Stream, name)
		if err != nil {
			c.in.log.Warn("inbox: consumer info for /metrics", "consumer", name, "error", err)
			continue
		}
		info := cons.CachedInfo()
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(info.NumPending), name)
		ch <- prometheus.MustNewConstMetric(c.ackPends, prometheus.GaugeValue, float64(info.NumAckPending), name)
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
