// Package cachebus fans a service's in-process cache invalidations out to
// every replica of the service. A change is committed in the database, then
// Invalidate drops the entry in this process at once and publishes the
// invalidation on core NATS (not JetStream: a missed one is repaired below,
// never replayed), subject "_fabrika.invalidate.<service>", outside the
// stream's "fabrika.>". Every replica, this one included, applies what it
// receives; applying one twice is harmless.
//
// The staleness bound (docs/messaging.md, "Caches across replicas"): while
// the broker is up, another replica serves the old entry until the message
// reaches it (a few milliseconds); while it is down, until the entry's TTL
// ends. When a replica's connection comes (back) up it drops every cache it
// registered, since it may have missed invalidations while away; so does a
// replica whose subscription dropped messages (a slow consumer).
package cachebus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// SubjectPrefix is followed by the service's name.
const SubjectPrefix = "_fabrika.invalidate."

// Bus is one service's invalidation channel. The zero value is not usable;
// build it with New.
type Bus struct {
	nc      *nats.Conn // nil: this process only
	subject string
	origin  string // this bus's id in its messages: its own come back and are skipped
	log     *slog.Logger

	mu     sync.RWMutex
	caches map[string]func(key string)

	received *prometheus.CounterVec
	unsent   *prometheus.CounterVec
	purges   prometheus.Counter
}

// message is what goes on the subject.
type message struct {
	Cache string `json:"cache"`
	Key   string `json:"key,omitempty"`
	From  string `json:"from,omitempty"` // the sending bus's origin
}

// New returns the bus of service on nc. A nil nc gives a bus for this
// process only (tests and benchmarks without a broker). The metrics are
// registered on reg when it is not nil.
func New(nc *nats.Conn, service string, log *slog.Logger, reg prometheus.Registerer) (*Bus, error) {
	if service == "" || log == nil {
		return nil, fmt.Errorf("cachebus: service and logger are required")
	}
	b := &Bus{nc: nc, subject: SubjectPrefix + service, origin: uuid.NewString(), log: log, caches: map[string]func(string){},
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_cache_invalidations_received_total",
			Help: "Cache invalidations received from the service's other replicas, by cache.",
		}, []string{"cache"}),
		unsent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fabrika_cache_invalidations_unsent_total",
			Help: "Cache invalidations that could not be published (broker away): other replicas catch up within the cache's TTL.",
		}, []string{"cache"}),
		purges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fabrika_cache_purges_total",
			Help: "Times every registered cache was dropped because invalidations may have been missed (broker (re)connected, messages dropped).",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{b.received, b.unsent, b.purges} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("cachebus: register metrics: %w", err)
			}
		}
	}
	return b, nil
}

// Local returns a bus for this process only, without metrics: for use cases
// built without a host (tests, benchmarks).
func Local() *Bus {
	b, _ := New(nil, "local", slog.New(slog.DiscardHandler), nil) // cannot fail: service and logger given
	return b
}

// Register names a cache and how to drop one of its entries: drop(key)
// forgets key, and drop("") forgets everything. Register each name once,
// before the invalidations that concern it.
func (b *Bus) Register(cache string, drop func(key string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.caches[cache] = drop
	b.received.WithLabelValues(cache)
	b.unsent.WithLabelValues(cache)
}

// Invalidate drops key ("" for everything) from the named cache in this
// process now and publishes the invalidation to every replica. Call it
// after the change's transaction committed (sqldb.Tx.AfterCommit): a replica
// that re-reads on receipt must see the change.
func (b *Bus) Invalidate(cache, key string) {
	b.apply(cache, key)
	if b.nc == nil {
		return
	}
	data, err := json.Marshal(message{Cache: cache, Key: key, From: b.origin})
	if err == nil {
		err = b.nc.Publish(b.subject, data)
	}
	if err != nil {
		// The broker is away: other replicas catch up within the TTL, or
		// at once when their own connection comes back.
		b.unsent.WithLabelValues(cache).Inc()
		b.log.Debug("cache invalidation not published", "cache", cache, "error", err)
	}
}

func (b *Bus) apply(cache, key string) bool {
	b.mu.RLock()
	drop := b.caches[cache]
	b.mu.RUnlock()
	if drop == nil {
		return false
	}
	drop(key)
	return true
}

// Purge drops every registered cache.
func (b *Bus) Purge() {
	b.mu.RLock()
	drops := make([]func(string), 0, len(b.caches))
	for _, d := range b.caches {
		drops = append(drops, d)
	}
	b.mu.RUnlock()
	for _, d := range drops {
		d("")
	}
	b.purges.Inc()
}

// Run receives the replicas' invalidations until ctx ends. Whenever the
// connection comes (back) up it drops every cache, once its subscription
// is registered with the server again. It works while the broker is away
// (the subscription is made when it answers).
func (b *Bus) Run(ctx context.Context) error {
	if b.nc == nil {
		<-ctx.Done()
		return nil
	}
	status := b.nc.StatusChanged(nats.CONNECTED)
	defer b.nc.RemoveStatusListener(status)
	var (
		dropMu  sync.Mutex
		dropped int
	)
	sub, err := b.nc.Subscribe(b.subject, func(m *nats.Msg) {
		// Messages lost to a slow subscription are invalidations missed:
		// forget everything rather than serve what they concerned.
		if n, err := m.Sub.Dropped(); err == nil {
			dropMu.Lock()
			lost := n > dropped
			dropped = n
			dropMu.Unlock()
			if lost {
				b.log.Warn("cache invalidations dropped; every cache forgotten", "dropped", n)
				b.Purge()
			}
		}
		var msg message
		if err := json.Unmarshal(m.Data, &msg); err != nil || msg.Cache == "" {
			b.log.Warn("cache invalidation ignored: not one", "subject", m.Subject, "bytes", len(m.Data))
			return
		}
		if msg.From == b.origin {
			return // its own, applied when it was sent: dropping again would only lose what was cached since
		}
		if !b.apply(msg.Cache, msg.Key) {
			b.log.Warn("cache invalidation ignored: unknown cache", "cache", msg.Cache)
			return
		}
		b.received.WithLabelValues(msg.Cache).Inc()
	})
	if errors.Is(err, nats.ErrConnectionClosed) {
		// Closed before the subscription (the process is stopping): as
		// after a close once subscribed, there is nothing more to receive.
		<-ctx.Done()
		return nil
	}
	if err != nil {
		return fmt.Errorf("cachebus: subscribe %s: %w", b.subject, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-status:
			// The status changes before the subscriptions are sent again; a
			// flush returns once the server has them, so no invalidation
			// published after the purge below can be missed.
			if err := b.nc.FlushTimeout(5 * time.Second); err != nil {
				b.log.Warn("cache bus: flush after connecting", "error", err)
			}
			b.log.Info("broker connected; every cache forgotten (invalidations may have been missed)", "subject", b.subject)
			b.Purge()
		}
	}
}
