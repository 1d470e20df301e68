package outbox

import (
	"errors"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/platform/backoff"
)

// Config tunes the relay. The zero value of a field takes its default.
type Config struct {
	// Interval between sweeps of the table for unsent messages (default 1s).
	// Publishing also starts at once after every commit that enqueued.
	Interval time.Duration
	// BatchSize is how many messages one cycle claims (default 500).
	BatchSize int
	// MaxAttempts failed publishes before a message gets status "error"
	// (default 10).
	MaxAttempts int
	// BaseBackoff and MaxBackoff bound the exponential backoff, with jitter,
	// between attempts (default 1s and 5m).
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Lease is how long a claimed message is reserved for one relay instance
	// (default 30s); after a crash another instance takes it over.
	Lease time.Duration
	// PublishTimeout is how long to wait for the broker's acknowledgement
	// (default 5s).
	PublishTimeout time.Duration
	// MaxInFlight bounds publishes awaiting acknowledgement (default 1024).
	MaxInFlight int
	// VacuumInterval is how often, on PostgreSQL, the relay vacuums the
	// outbox table when it deleted rows since the last time (default 10s;
	// negative: never, leaving it to autovacuum).
	VacuumInterval time.Duration
	// VacuumAfter is how many deleted rows make the relay vacuum before the
	// interval is up (default 1000), so that a burst does not leave the
	// table's heap thousands of dead rows long for the scans of Enqueue's
	// key probe and the claims.
	VacuumAfter int64
	// Instance names this relay instance stably across restarts (default:
	// the host name). A relay that starts takes over at once the leases that
	// an earlier process of the same instance left behind (after kill -9),
	// instead of waiting Lease for them. Replicas that share a database
	// must have different names (FABRIKA_INSTANCE when they share a host);
	// two processes with one name only cost duplicates that the broker and
	// the inbox drop, the order per key holds.
	Instance string
	// Connected, when set, tells whether the broker connection is up; while
	// it is down the relay does not spend messages' attempts.
	Connected func() bool
	// TracerProvider records the producer span of every enqueued message;
	// nil records none (the trace context of Enqueue's ctx is still passed
	// on).
	TracerProvider trace.TracerProvider
}

func tracerProvider(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return noop.NewTracerProvider()
	}
	return tp
}

func (c *Config) validate() error {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Interval, time.Second)
	def(&c.BaseBackoff, time.Second)
	def(&c.MaxBackoff, 5*time.Minute)
	def(&c.Lease, 30*time.Second)
	def(&c.PublishTimeout, 5*time.Second)
	def(&c.VacuumInterval, 10*time.Second)
	if c.VacuumAfter == 0 {
		c.VacuumAfter = 1000
	}
	if c.Instance == "" {
		c.Instance, _ = os.Hostname()
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 10
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1024
	}
	switch {
	case c.Interval < 0, c.BaseBackoff < 0, c.MaxBackoff < c.BaseBackoff, c.Lease <= c.PublishTimeout:
		return errors.New("durations must be positive, max backoff >= base backoff, lease > publish timeout")
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return errors.New("batch size must be 1 to 10000")
	case c.MaxAttempts < 1:
		return errors.New("max attempts must be at least 1")
	case c.MaxInFlight < 1:
		return errors.New("max in flight must be at least 1")
	case strings.Contains(c.Instance, "#"):
		return errors.New("instance name must not contain '#'")
	}
	return nil
}

// RetryHorizon is the longest time between a message's first failed publish
// and its last attempt: the JetStream duplicate window must be longer, so
// that a re-publish of a message the broker did store is recognised.
func (c Config) RetryHorizon() time.Duration {
	var total time.Duration
	for n := range c.MaxAttempts {
		total += backoff.Exponential(n+1, c.BaseBackoff, c.MaxBackoff) + c.PublishTimeout
	}
	return total
}
