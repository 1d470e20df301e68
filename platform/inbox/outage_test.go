package inbox_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestDatabaseOutageSpendsNoDelivery: messages that arrive while the
// consumer's PostgreSQL server is unreachable are held by the worker and
// processed once it answers again, on their first delivery. Before, each
// failed with the outage and was NAKed with a delay that doubled per
// delivery, so after a few seconds' outage the messages waited many
// seconds more after the database's return (the fault suite's PostgreSQL
// round: priced up to 36 s after it).
//
// The database is taken away by a TCP proxy in front of the server (a
// server database only: SQLite has no outage of this kind).
func TestDatabaseOutageSpendsNoDelivery(t *testing.T) {
	if !testenv.PostgresConfigured() {
		t.Skip("a database outage needs a PostgreSQL server (FABRIKA_TEST_ENGINE=postgres)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn := testenv.DSNOn(t, sqldb.Postgres)
	direct, err := sqldb.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if err := direct.Migrate(ctx, effectMigrations); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	u.Host = proxy.Addr()
	db, err := sqldb.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	b := testenv.NewBroker(t)
	js, err := jetstream.New(b.Connect(t, "inbox-outage-test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	// A redelivery delay far shorter than the outage: without holding, the
	// messages would be redelivered (and their deliveries counted) while the
	// database is away.
	in := newInbox(t, db, js, inbox.Config{Service: "outage", Workers: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}, reg)
	var mu sync.Mutex
	deliveries := map[string]int{}
	in.Subscribe("outage", map[string]inbox.Handler{
		"fabrika.test.outage": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'x')`, m.ID); err != nil {
				return err
			}
			tx.AfterCommit(func() {
				mu.Lock()
				deliveries[m.ID] = m.Deliveries
				mu.Unlock()
			})
			return nil
		},
	})
	runInbox(t, ctx, in)
	publish := func(id string) {
		t.Helper()
		msg := nats.NewMsg("fabrika.test.outage")
		msg.Header.Set("Nats-Msg-Id", id)
		msg.Header.Set("Fabrika-Key", id)
		msg.Data = []byte(`{}`)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	publish("before")
	testenv.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := deliveries["before"]; !ok {
			return fmt.Errorf("the message before the outage is not processed")
		}
		return nil
	})

	proxy.Cut()
	const n = 6
	for i := range n {
		publish(fmt.Sprint("during-", i))
	}
	failures := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, mf := range mfs {
			if mf.GetName() == "fabrika_inbox_handler_failures_total" {
				for _, m := range mf.GetMetric() {
					sum += m.GetCounter().GetValue()
				}
			}
		}
		return sum
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if f := failures(); f < 1 {
			return fmt.Errorf("no handler failure yet (%v)", f)
		}
		return nil
	})
	proxy.Restore(t)

	testenv.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(deliveries) < n+1 {
			return fmt.Errorf("%d of %d messages processed", len(deliveries), n+1)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	for id, d := range deliveries {
		if d != 1 {
			t.Errorf("%s processed on delivery %d, want 1: the outage spent deliveries", id, d)
		}
	}
	var effects int
	if err := direct.QueryRowContext(ctx, `SELECT COUNT(*) FROM effect`).Scan(&effects); err != nil {
		t.Fatal(err)
	}
	if effects != n+1 {
		t.Errorf("%d effects, want %d", effects, n+1)
	}
}
