package inbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestBrokerStallLosesNoTime: the inbox's broker connection stalls (bytes
// stop both ways, nothing is closed: a NATS node that hangs) while the
// broker delivers messages into it; the inbox misses the broker's
// heartbeats. When the connection flows again, the messages are processed
// at once, on their first delivery. Before, the missed heartbeat ended the
// message iterator: what arrived after the stall went to a subscription
// that was gone, and waited the whole AckWait (30 s) for its redelivery.
func TestBrokerStallLosesNoTime(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, direct := newBrokerStream(ctx, t, "inbox-stall-test")
	proxy := testenv.NewProxy(t, strings.TrimPrefix(b.URL, "nats://"))
	var logs testenv.LogBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nc, err := broker.Connect("nats://"+proxy.Addr(), nil, "inbox-stall-inbox", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	db := testenv.DB(t, effectMigrations)
	cfg := inbox.Config{Service: "stall", Workers: 1, AckWait: 30 * time.Second, BaseDelay: 50 * time.Millisecond, Heartbeat: 500 * time.Millisecond}
	in, err := inbox.New(db, js, cfg, log, nil, noop.NewTracerProvider())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	deliveries := map[string]int{} // message id -> the delivery it was processed on
	in.Subscribe("stall", map[string]inbox.Handler{
		"fabrika.test.stall": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
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
		msg := nats.NewMsg("fabrika.test.stall")
		msg.Header.Set("Nats-Msg-Id", id)
		msg.Header.Set("Fabrika-Key", id)
		msg.Data = []byte(`{}`)
		if _, err := direct.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	processed := func(n int, within time.Duration) {
		t.Helper()
		testenv.Eventually(t, within, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(deliveries) < n {
				return fmt.Errorf("%d of %d messages processed", len(deliveries), n)
			}
			return nil
		})
	}

	ackPending := func(n int) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, func() error {
			cons, err := direct.Consumer(ctx, broker.StreamName, in.ConsumerName("stall"))
			if err != nil {
				return err
			}
			info, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumAckPending != n {
				return fmt.Errorf("%d messages awaiting their ack, want %d", info.NumAckPending, n)
			}
			return nil
		})
	}
	publish("before") // the inbox is pulling
	processed(1, 30*time.Second)
	ackPending(0) // its ack went through
	proxy.Pause()
	const n = 10
	for i := range n {
		publish(fmt.Sprint("during-", i))
	}
	ackPending(n) // sent into the stall
	testenv.EventuallyTrue(t, 10*time.Second, "the inbox to miss the broker's heartbeats", func() bool {
		return strings.Contains(logs.String(), jetstream.ErrNoHeartbeat.Error())
	})
	proxy.Resume()
	// Well within the AckWait: the messages are not waiting for a redelivery.
	processed(n+1, 10*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for id, d := range deliveries {
		if d != 1 {
			t.Errorf("%s processed on delivery %d, want 1", id, d)
		}
	}
}
