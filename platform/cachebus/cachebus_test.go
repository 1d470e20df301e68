package cachebus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/cachebus"
	"github.com/fabrika/fabrika/platform/testenv"
)

// bound is how soon an invalidation must reach another replica while the
// broker is up.
const bound = 3 * time.Second

// drops records the keys a cache was told to drop.
type drops struct {
	mu   sync.Mutex
	keys []string
}

func (d *drops) drop(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys = append(d.keys, key)
}

func (d *drops) count(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, k := range d.keys {
		if k == key {
			n++
		}
	}
	return n
}

func (d *drops) has(key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.keys, key) {
		return fmt.Errorf("%q not dropped (dropped: %q)", key, d.keys)
	}
	return nil
}

type replica struct {
	nc    *nats.Conn
	bus   *cachebus.Bus
	reg   *prometheus.Registry
	cache *drops
}

// start runs one replica's bus of service on b, with one cache "pages".
func start(t *testing.T, b *testenv.Broker, service, name string) *replica {
	t.Helper()
	r := &replica{nc: b.Connect(t, name), reg: prometheus.NewRegistry(), cache: &drops{}}
	bus, err := cachebus.New(r.nc, service, testenv.Logger(t), r.reg)
	if err != nil {
		t.Fatal(err)
	}
	r.bus = bus
	bus.Register("pages", r.cache.drop)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	return r
}

// counter is the value of a replica's counter name for the cache "pages".
func (r *replica) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cache" && l.GetValue() == "pages" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{cache=pages}", name)
	return 0
}

// connected waits until an invalidation from a reaches b (b's subscription
// is registered with the server).
func connected(t *testing.T, a, b *replica, key string) {
	t.Helper()
	testenv.Eventually(t, bound, func() error {
		a.bus.Invalidate("pages", key)
		return b.cache.has(key)
	})
}

func TestInvalidationReachesEveryReplica(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	a, other := start(t, b, "svc", "svc-a"), start(t, b, "svc", "svc-b")
	stranger := start(t, b, "another", "another-a")
	connected(t, a, other, "warm")

	a.bus.Invalidate("pages", "k1")
	if err := a.cache.has("k1"); err != nil {
		t.Fatalf("not dropped at once by the replica that invalidated: %v", err)
	}
	testenv.Eventually(t, bound, func() error { return other.cache.has("k1") })

	// Garbage and unknown caches on the subject are ignored; what follows
	// is still applied.
	nc := b.Connect(t, "garbage")
	for _, data := range []string{"not json", `{"cache":"nope","key":"x"}`, `{}`} {
		if err := nc.Publish(cachebus.SubjectPrefix+"svc", []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	other.bus.Invalidate("pages", "k2")
	testenv.Eventually(t, bound, func() error { return a.cache.has("k2") })
	if got := a.counter(t, "fabrika_cache_invalidations_received_total"); got < 1 {
		t.Errorf("received counter = %v, want at least 1", got)
	}
	// A replica's own invalidation comes back to it (it came before k2,
	// which the server handled later): it is not applied a second time,
	// which would drop what was cached since.
	if n := a.cache.count("k1"); n != 1 {
		t.Errorf("k1 dropped %d times by the replica that invalidated it, want 1", n)
	}
	if err := stranger.cache.has("k1"); err == nil {
		t.Error("another service's cache dropped svc's key")
	}
}

// While the broker is away an invalidation cannot reach the other replica;
// when its connection comes back it drops its whole cache (issue 16,
// point 8).
func TestReconnectDropsEverything(t *testing.T) {
	t.Parallel()
	b := testenv.NewEmbeddedBroker(t)
	a, other := start(t, b, "svc", "svc-a"), start(t, b, "svc", "svc-b")
	connected(t, a, other, "warm")

	b.Stop()
	testenv.Eventually(t, bound, func() error {
		if a.nc.IsConnected() {
			return fmt.Errorf("replica a still connected")
		}
		return nil
	})
	a.bus.Invalidate("pages", "lost") // broker away: this replica only
	if err := a.cache.has("lost"); err != nil {
		t.Fatal(err)
	}
	b.Restart(t)
	testenv.Eventually(t, 30*time.Second, func() error { return other.cache.has("") })
	if err := other.cache.has("lost"); err == nil {
		t.Error("an invalidation published while the broker was away arrived; the test proves nothing")
	}
	if got := a.counter(t, "fabrika_cache_invalidations_unsent_total"); got != 1 {
		t.Errorf("unsent counter = %v, want 1", got)
	}
	// And the bus works again after the reconnect.
	connected(t, a, other, "after")
}

// TestClosedConnectionEndsQuietly: a bus whose connection closed before it
// subscribed (the process stopping) runs until its context ends, as one
// that subscribed before the close does, instead of failing its host. A
// host whose inbox closed the connection at once (a test's crash before the
// ack) failed with "subscribe: connection closed" now and then.
func TestClosedConnectionEndsQuietly(t *testing.T) {
	t.Parallel()
	b := testenv.NewBroker(t)
	nc := b.Connect(t, "closed")
	bus, err := cachebus.New(nc, "closed", testenv.Logger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- bus.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run on a closed connection: %v", err)
	}
}
