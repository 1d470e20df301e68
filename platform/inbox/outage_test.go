package inbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// outage is an inbox whose PostgreSQL server is reached through a TCP proxy
// that a test cuts and restores (a server database only: SQLite has no
// outage of this kind). Its handler writes an effect row and records on
// which delivery each message was processed.
type outage struct {
	direct *sqldb.DB // the database without the proxy, for checks
	proxy  *testenv.Proxy
	js     jetstream.JetStream
	reg    *prometheus.Registry

	mu         sync.Mutex
	deliveries map[string]int // message id -> the delivery it was processed on
}

func newOutage(t *testing.T, ctx context.Context, cfg inbox.Config) *outage {
	t.Helper()
	direct, db, proxy := testenv.DBBehindProxy(t, effectMigrations)
	o := &outage{direct: direct, proxy: proxy, reg: prometheus.NewRegistry(), deliveries: map[string]int{}}
	o.js = newStream(ctx, t, "inbox-outage-test")
	in := newInbox(t, db, o.js, cfg, o.reg)
	in.Subscribe("outage", map[string]inbox.Handler{
		"fabrika.test.outage": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'x')`, m.ID); err != nil {
				return err
			}
			tx.AfterCommit(func() {
				o.mu.Lock()
				o.deliveries[m.ID] = m.Deliveries
				o.mu.Unlock()
			})
			return nil
		},
	})
	runInbox(t, ctx, in)
	return o
}

func (o *outage) publish(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	msg := nats.NewMsg("fabrika.test.outage")
	msg.Header.Set("Nats-Msg-Id", id)
	msg.Header.Set("Fabrika-Key", id)
	msg.Data = []byte(`{}`)
	if _, err := o.js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
}

// waitProcessed waits until n messages are processed.
func (o *outage) waitProcessed(t *testing.T, n int, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, func() error {
		o.mu.Lock()
		defer o.mu.Unlock()
		if len(o.deliveries) < n {
			return fmt.Errorf("%d of %d messages processed", len(o.deliveries), n)
		}
		return nil
	})
}

// waitHeld waits until the workers have held at least n messages for the
// outage (the inbox counts each held message as a handler failure).
func (o *outage) waitHeld(t *testing.T, n float64) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		mfs, err := o.reg.Gather()
		if err != nil {
			return err
		}
		var sum float64
		for _, mf := range mfs {
			if mf.GetName() == "fabrika_inbox_handler_failures_total" {
				for _, m := range mf.GetMetric() {
					sum += m.GetCounter().GetValue()
				}
			}
		}
		if sum < n {
			return fmt.Errorf("%v messages held for the outage, waiting for %v", sum, n)
		}
		return nil
	})
}

// checkOnce checks that every message was processed on its first delivery
// and had its effect once.
func (o *outage) checkOnce(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, d := range o.deliveries {
		if d != 1 {
			t.Errorf("%s processed on delivery %d, want 1: the outage spent deliveries", id, d)
		}
	}
	var effects int
	if err := o.direct.QueryRowContext(ctx, `SELECT COUNT(*) FROM effect`).Scan(&effects); err != nil {
		t.Fatal(err)
	}
	if effects != n {
		t.Errorf("%d effects, want %d", effects, n)
	}
}

// round processes one message, cuts the database, publishes n more, waits
// until held of them are held, gives the database back with each new
// connection slowed by delay, and checks that all are processed once, on
// their first delivery.
func (o *outage) round(t *testing.T, ctx context.Context, n int, held float64, delay time.Duration) {
	t.Helper()
	o.publish(t, ctx, "before")
	o.waitProcessed(t, 1, 30*time.Second)
	o.proxy.Cut()
	for i := range n {
		o.publish(t, ctx, fmt.Sprint("during-", i))
	}
	o.waitHeld(t, held)
	o.proxy.Delay(delay)
	o.proxy.Restore(t)
	o.waitProcessed(t, n+1, 30*time.Second)
	o.checkOnce(t, ctx, n+1)
}

// TestDatabaseOutageSpendsNoDelivery: messages that arrive while the
// consumer's PostgreSQL server is unreachable are held by the worker and
// processed once it answers again, on their first delivery. Before, each
// failed with the outage and was NAKed with a delay that doubled per
// delivery, so after a few seconds' outage the messages waited many
// seconds more after the database's return (the fault suite's PostgreSQL
// round: priced up to 36 s after it).
func TestDatabaseOutageSpendsNoDelivery(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A redelivery delay far shorter than the outage: without holding, the
	// messages would be redelivered (and their deliveries counted) while the
	// database is away.
	o := newOutage(t, ctx, inbox.Config{Service: "outage", Workers: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond})
	o.round(t, ctx, 6, 1, 0)
}

// TestDatabaseSlowToReconnect: when the server is back but slow to open a
// connection (here 1.5 s a connection, as a PostgreSQL that has just
// started on a loaded machine while every service reconnects), the held
// messages run as soon as a connection opens. Before, each worker asked
// with a ping that gave up after one second, abandoning the connection it
// was opening: the messages waited until something else happened to open
// one (in the fault suite, the workers of a mes-calc replica resumed one by
// one, up to 6 s after the server was back; here never).
func TestDatabaseSlowToReconnect(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := newOutage(t, ctx, inbox.Config{Service: "slow", Workers: 4})
	o.round(t, ctx, 8, 4, 1500*time.Millisecond)
}
