package reliability_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// 1. The broker is down when the business transaction commits: the message
// waits in the outbox (no attempt spent) and is delivered once it is back.
func TestBrokerDownAtCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	o := newOutage(t, b)
	send := openHost(t, senderConfig(t), o.Deps(t, "sender"))
	recv := openHost(t, receiverConfig(t), b.Deps(t, "receiver"))
	subscribe(recv, nil)
	testenv.Run(t, send, nil)
	testenv.Run(t, recv, nil)
	// The stream and consumer exist before the outage.
	if _, err := enqueue(ctx, send.DB, send.Outbox, subject, "warm-up", 1); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyTrue(t, 10*time.Second, "the warm-up message", func() bool { return distinctReceived(t, recv.DB) == 1 })

	o.Down(t)
	testenv.EventuallyTrue(t, 10*time.Second, "the sender to notice the outage", func() bool { return !send.NATS.IsConnected() })
	const n = 20
	for i := range n {
		if _, err := enqueue(ctx, send.DB, send.Outbox, subject, fmt.Sprint("k", i%3), int64(i+1)); err != nil {
			t.Fatalf("commit during the outage: %v", err)
		}
	}
	// The relay has had its go at them while the broker was away (the fast
	// lane leases each row at its commit and gives it back without spending
	// an attempt; sweeps wait for the connection): they all wait, pending.
	testenv.EventuallyTrue(t, 10*time.Second, "the relay to give every message back", func() bool {
		return queryInt(t, send.DB, `SELECT COUNT(*) FROM outbox WHERE lease_owner = ''`) == n
	})
	if got := queryInt(t, send.DB, `SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 0`); got != n {
		t.Fatalf("%d messages pending during the outage without a spent attempt, want %d", got, n)
	}
	o.Up(t)
	testenv.EventuallyTrue(t, 30*time.Second, "delivery after the outage", func() bool { return distinctReceived(t, recv.DB) == n+1 })
	testenv.EventuallyTrue(t, 10*time.Second, "the outbox to empty", func() bool { return queryInt(t, send.DB, `SELECT COUNT(*) FROM outbox`) == 0 })
	checkExactlyOnce(t, send.DB, recv.DB)
}

// 2. The process is killed after the commit and before the publish: the
// relay of the restarted process delivers the message.
func TestKilledAfterCommitBeforePublish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	cfg := senderConfig(t)
	// The first process commits and dies before its relay ever runs: a
	// committed outbox row and nothing published.
	first := openHost(t, cfg, b.Deps(t, "sender-1"))
	for i := range 5 {
		if _, err := enqueue(ctx, first.DB, first.Outbox, subject, "k", int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	first.DB.Close()

	recv := openHost(t, receiverConfig(t), b.Deps(t, "receiver"))
	subscribe(recv, nil)
	testenv.Run(t, recv, nil)
	restarted := openHost(t, cfg, b.Deps(t, "sender-2"))
	testenv.Run(t, restarted, nil)
	testenv.EventuallyTrue(t, 20*time.Second, "the restarted relay to deliver", func() bool { return distinctReceived(t, recv.DB) == 5 })
	checkExactlyOnce(t, restarted.DB, recv.DB)
	if v := queryInt(t, recv.DB, `SELECT COUNT(*) FROM order_violation`); v != 0 {
		t.Errorf("%d order violations", v)
	}
}

// 3. The handler fails twice, then succeeds: its effect happens once.
func TestHandlerFailsTwiceThenSucceeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	send := openHost(t, senderConfig(t), b.Deps(t, "sender"))
	recv := openHost(t, receiverConfig(t), b.Deps(t, "receiver"))
	var mu sync.Mutex
	calls := map[string]int{}
	subscribe(recv, func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
		// The effect is written first, so a failure must roll it back.
		if err := record(ctx, tx, m); err != nil {
			return err
		}
		mu.Lock()
		calls[m.ID]++
		n := calls[m.ID]
		mu.Unlock()
		if n <= 2 {
			return fmt.Errorf("transient failure %d", n)
		}
		return nil
	})
	testenv.Run(t, send, nil)
	testenv.Run(t, recv, nil)
	const n = 3
	for i := range n {
		if _, err := enqueue(ctx, send.DB, send.Outbox, subject, fmt.Sprint("k", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	testenv.EventuallyTrue(t, 20*time.Second, "the third deliveries to succeed", func() bool { return distinctReceived(t, recv.DB) == n })
	checkExactlyOnce(t, send.DB, recv.DB)
	if d := queryInt(t, recv.DB, `SELECT MIN(delivery) FROM received`); d != 3 {
		t.Errorf("processed on delivery %d, want 3", d)
	}
	checkMetric(t, recv, `
# HELP fabrika_inbox_handler_failures_total Handler failures that will be redelivered.
# TYPE fabrika_inbox_handler_failures_total counter
fabrika_inbox_handler_failures_total{consumer="receiver-items",service="receiver"} 6
# HELP fabrika_inbox_processed_total Messages processed and acknowledged.
# TYPE fabrika_inbox_processed_total counter
fabrika_inbox_processed_total{consumer="receiver-items",service="receiver"} 3
`, "fabrika_inbox_handler_failures_total", "fabrika_inbox_processed_total")
}

// 4a. The same message is published twice, the second time after the
// broker's duplicate window (or by a producer that reused an id): the
// stream holds it twice, the receiver processes it once.
func TestRepublishedMessageProcessedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	recv := openHost(t, receiverConfig(t), b.Deps(t, "receiver"))
	subscribe(recv, nil)
	testenv.Run(t, recv, nil)
	testenv.EventuallyTrue(t, 10*time.Second, "the stream", func() bool {
		_, err := recv.JS.Stream(ctx, broker.StreamName)
		return err == nil
	})
	// Shrink the duplicate window so the broker lets the copy through.
	st, err := recv.JS.Stream(ctx, broker.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	scfg := st.CachedInfo().Config
	scfg.Duplicates = 100 * time.Millisecond
	if _, err := recv.JS.UpdateStream(ctx, scfg); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(item{Key: "k", Seq: 1})
	first, err := recv.JS.PublishMsg(ctx, rawMsg(subject, "same-id", "k", data))
	if err != nil {
		t.Fatal(err)
	}
	var second *jetstream.PubAck
	// Each try within the 100 ms window is dropped as a duplicate; the first
	// one after it is stored.
	testenv.EventuallyTrue(t, 10*time.Second, "the broker to accept the copy", func() bool {
		second, err = recv.JS.PublishMsg(ctx, rawMsg(subject, "same-id", "k", data))
		return err == nil && !second.Duplicate
	})
	if second.Sequence == first.Sequence {
		t.Fatal("precondition: the stream does not hold two copies")
	}
	scfg.Duplicates = broker.DuplicateWindow
	if _, err := recv.JS.UpdateStream(ctx, scfg); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyTrue(t, 10*time.Second, "the copy to be acknowledged as a duplicate", func() bool {
		info, err := recv.JS.Consumer(ctx, broker.StreamName, recv.Inbox.ConsumerName("items"))
		if err != nil {
			return false
		}
		ci, err := info.Info(ctx)
		return err == nil && ci.AckFloor.Stream >= second.Sequence
	})
	if got := queryInt(t, recv.DB, `SELECT COUNT(*) FROM received WHERE msg_id = 'same-id'`); got != 1 {
		t.Fatalf("processed %d times, want once", got)
	}
	checkMetric(t, recv, `
# HELP fabrika_inbox_duplicates_total Deliveries of messages already processed (acknowledged, skipped).
# TYPE fabrika_inbox_duplicates_total counter
fabrika_inbox_duplicates_total{consumer="receiver-items",service="receiver"} 1
`, "fabrika_inbox_duplicates_total")
}

// 4b. The receiver crashes after its commit and before its ack: the broker
// redelivers to the restarted receiver, which recognises the message.
func TestRedeliveryAfterCrashBeforeAck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	send := openHost(t, senderConfig(t), b.Deps(t, "sender"))
	testenv.Run(t, send, nil)
	rcfg := receiverConfig(t)
	rcfg.Inbox.AckWait = time.Second
	crashing := openHost(t, rcfg, b.Deps(t, "receiver-1"))
	var calls atomic.Int32
	subscribe(crashing, func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
		calls.Add(1)
		// The process "dies" between the commit and the ack: its broker
		// connection is gone before the ack can be sent.
		tx.AfterCommit(crashing.NATS.Close)
		return record(ctx, tx, m)
	})
	crashingRun := testenv.Run(t, crashing, nil)
	if _, err := enqueue(ctx, send.DB, send.Outbox, subject, "k", 1); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyTrue(t, 10*time.Second, "the first processing", func() bool { return distinctReceived(t, crashing.DB) == 1 })
	testenv.EventuallyTrue(t, 10*time.Second, "the crash", func() bool { return crashing.NATS.IsClosed() })
	crashingRun.Stop(t)

	restarted := openHost(t, rcfg, b.Deps(t, "receiver-2"))
	subscribe(restarted, func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
		calls.Add(1)
		return record(ctx, tx, m)
	})
	testenv.Run(t, restarted, nil)
	testenv.EventuallyTrue(t, 20*time.Second, "the redelivery to be recognised", func() bool {
		return testutilCount(t, restarted, "fabrika_inbox_duplicates_total") == 1
	})
	checkExactlyOnce(t, send.DB, restarted.DB)
	if c := calls.Load(); c != 1 {
		t.Errorf("handler ran %d times, want once", c)
	}
}

// testutilCount returns the value of a host's counter (summed over labels).
func testutilCount(t testing.TB, h *host.Host, name string) float64 {
	t.Helper()
	mfs, err := h.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue()
		}
	}
	return v
}

// 5. A message that always fails: the sender gives it status error, counts
// it and lets a person retry it; the receiver dead-letters it, counts it and
// lets a person replay it. The routes are the internal admin routes.
func TestAlwaysFailingMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	scfg := senderConfig(t)
	scfg.Outbox.MaxAttempts = 3
	scfg.Outbox.BaseBackoff, scfg.Outbox.MaxBackoff = 10*time.Millisecond, 20*time.Millisecond
	send := openHost(t, scfg, b.Deps(t, "sender"))
	rcfg := receiverConfig(t)
	rcfg.Inbox.MaxDeliveries = 3
	recv := openHost(t, rcfg, b.Deps(t, "receiver"))
	var fixed atomic.Bool
	subscribe(recv, func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
		if err := record(ctx, tx, m); err != nil {
			return err
		}
		if strings.HasPrefix(string(m.Payload), `{"key":"poison"`) && !fixed.Load() {
			return errors.New("poison: the handler cannot take this one")
		}
		return nil
	})
	testenv.Run(t, send, nil)
	testenv.Run(t, recv, nil)
	sendAdmin, recvAdmin := send.AdminHandler(), recv.AdminHandler()

	// Sender: the stream for the subject refuses the message (too large for
	// its limit), every publish. (A subject no stream captures would only
	// wait: no responders is the broker being unavailable, no attempt.)
	const lost = "reliability.refused.item"
	streamCfg := jetstream.StreamConfig{Name: "RELIABILITY_RETRY", Subjects: []string{"reliability.refused.>"}, MaxMsgSize: 8}
	if _, err := send.JS.CreateOrUpdateStream(ctx, streamCfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = send.JS.DeleteStream(context.Background(), "RELIABILITY_RETRY") })
	id, err := enqueue(ctx, send.DB, send.Outbox, lost, "lost", 1)
	if err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyTrue(t, 20*time.Second, "status error", func() bool {
		return queryInt(t, send.DB, `SELECT COUNT(*) FROM outbox WHERE status = 'error'`) == 1
	})
	checkMetric(t, send, `
# HELP fabrika_outbox_failed_total Messages that got status error after the last allowed attempt.
# TYPE fabrika_outbox_failed_total counter
fabrika_outbox_failed_total{service="sender"} 1
`, "fabrika_outbox_failed_total")
	var listed struct{ Messages []outbox.Entry }
	call(t, sendAdmin, "GET", "/admin/outbox?status=error", http.StatusOK, &listed)
	if len(listed.Messages) != 1 || listed.Messages[0].ID != id || listed.Messages[0].Attempts != 3 || listed.Messages[0].LastError == "" {
		t.Fatalf("admin list %+v", listed.Messages)
	}
	// A person fixes the cause (the stream's limit) and retries.
	streamCfg.MaxMsgSize = -1
	if _, err := send.JS.CreateOrUpdateStream(ctx, streamCfg); err != nil {
		t.Fatal(err)
	}
	call(t, sendAdmin, "POST", "/admin/outbox/"+id+"/retry", http.StatusOK, nil)
	testenv.EventuallyTrue(t, 10*time.Second, "the retried message to be published", func() bool {
		return queryInt(t, send.DB, `SELECT COUNT(*) FROM outbox`) == 0
	})
	got, err := send.JS.Stream(ctx, "RELIABILITY_RETRY")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := got.GetLastMsgForSubject(ctx, lost); err != nil || m.Header.Get("Nats-Msg-Id") != id {
		t.Fatalf("retried message not in the stream: %v", err)
	}

	// Receiver: the poison message is dead-lettered, the next one processed.
	if _, err := enqueue(ctx, send.DB, send.Outbox, subject, "poison", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := enqueue(ctx, send.DB, send.Outbox, subject, "fine", 1); err != nil {
		t.Fatal(err)
	}
	var dls struct {
		DeadLetters []inbox.DeadLetter `json:"dead_letters"`
	}
	testenv.EventuallyTrue(t, 20*time.Second, "the dead letter", func() bool {
		call(t, recvAdmin, "GET", "/admin/dead-letters?status=open", http.StatusOK, &dls)
		return len(dls.DeadLetters) == 1
	})
	testenv.EventuallyTrue(t, 10*time.Second, "the next message", func() bool { return distinctReceived(t, recv.DB) == 1 })
	if d := dls.DeadLetters[0]; d.Key != "poison" || d.Deliveries != 3 || !strings.Contains(d.Reason, "poison") {
		t.Errorf("dead letter %+v", d)
	}
	checkMetric(t, recv, `
# HELP fabrika_inbox_dead_letters_total Messages dead-lettered: they need a person.
# TYPE fabrika_inbox_dead_letters_total counter
fabrika_inbox_dead_letters_total{consumer="receiver-items",service="receiver"} 1
`, "fabrika_inbox_dead_letters_total")
	fixed.Store(true)
	call(t, recvAdmin, "POST", "/admin/dead-letters/"+dls.DeadLetters[0].ID+"/replay", http.StatusOK, nil)
	call(t, recvAdmin, "POST", "/admin/dead-letters/"+dls.DeadLetters[0].ID+"/replay", http.StatusNotFound, nil)
	// The sender's log also holds the message to the lost subject, which
	// the receiver never subscribed to: compare the receiver's subject only.
	if _, err := send.DB.Exec(`DELETE FROM sent WHERE msg_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, send.DB, recv.DB)
}

func call(t testing.TB, h http.Handler, method, path string, wantStatus int, out any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+testenv.AdminToken)
	h.ServeHTTP(rec, req)
	if rec.Code != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// 6. Two relay instances on one database (PostgreSQL in the postgres run):
// every message is delivered once and the order per key is kept, as the
// receiver sees it.
func TestTwoRelayInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	dsn := testenv.DSN(t)
	var dbs [2]*sqldb.DB
	var outs [2]*outbox.Outbox
	for i := range 2 {
		db, err := sqldb.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			if err := db.Migrate(ctx, senderMigrations); err != nil {
				t.Fatal(err)
			}
		}
		js, err := jetstream.New(b.Connect(t, fmt.Sprint("relay-", i)))
		if err != nil {
			t.Fatal(err)
		}
		// Small batches and a fast sweep make the instances interleave.
		out, err := outbox.New(db, js, outbox.Config{Interval: 20 * time.Millisecond, BatchSize: 25}, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		dbs[i], outs[i] = db, out
	}
	recv := openHost(t, receiverConfig(t), b.Deps(t, "receiver"))
	subscribe(recv, nil)
	testenv.Run(t, recv, nil)
	testenv.EventuallyTrue(t, 10*time.Second, "the stream", func() bool { _, err := recv.JS.Stream(ctx, broker.StreamName); return err == nil })
	runCtx, cancel := context.WithCancel(ctx)
	var relays sync.WaitGroup
	for _, out := range outs {
		relays.Go(func() { _ = out.Run(runCtx) })
	}
	defer func() { cancel(); relays.Wait() }()

	const keys, perKey = 20, 60
	var senders sync.WaitGroup
	errs := make(chan error, keys)
	for k := range keys {
		senders.Go(func() {
			for seq := 1; seq <= perKey; seq++ {
				// Alternate the instance that enqueues: each wakes its own relay.
				i := (k + seq) % 2
				if _, err := enqueue(ctx, dbs[i], outs[i], subject, fmt.Sprint("key-", k), int64(seq)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	senders.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testenv.EventuallyTrue(t, 60*time.Second, "every message", func() bool { return distinctReceived(t, recv.DB) == keys*perKey })
	checkExactlyOnce(t, dbs[0], recv.DB)
	if v := queryInt(t, recv.DB, `SELECT COUNT(*) FROM order_violation`); v != 0 {
		t.Errorf("%d messages arrived out of their key's order", v)
	}
	if n := queryInt(t, recv.DB, `SELECT COUNT(*) FROM key_state WHERE last_seq = $1`, perKey); n != keys {
		t.Errorf("%d keys reached their last message, want %d", n, keys)
	}
}

// 7. Garbage on a subject: a payload that does not decode, a message
// without id, and a subject this instance has no handler for (its consumer
// was widened by a newer instance during a rolling deploy) are each
// dead-lettered with a reason, and the consumer keeps processing.
func TestGarbageIsDeadLettered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := testenv.NewBroker(t)
	const orders, extra = "fabrika.test.order", "fabrika.test.extra"
	rcfg := receiverConfig(t)
	rcfg.Inbox.MaxDeliveries = 3
	orderHandler := inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPlacedV1) error {
		return record(ctx, tx, inbox.Message{ID: m.ID, Deliveries: m.Deliveries, Payload: fmt.Appendf(nil, `{"key":%q,"seq":1}`, p.OrderID)})
	})
	old := openHost(t, rcfg, b.Deps(t, "receiver-old"))
	old.Inbox.Subscribe("garbage", map[string]inbox.Handler{orders: orderHandler})
	testenv.Run(t, old, nil)
	testenv.EventuallyTrue(t, 10*time.Second, "the old instance's consumer", func() bool {
		_, err := old.JS.Consumer(ctx, broker.StreamName, old.Inbox.ConsumerName("garbage"))
		return err == nil
	})
	// A newer instance starts, declares the consumer with one more subject,
	// and stops again before any message: only the old one consumes.
	newer := openHost(t, rcfg, b.Deps(t, "receiver-new"))
	newer.Inbox.Subscribe("garbage", map[string]inbox.Handler{orders: orderHandler, extra: orderHandler})
	newerRun := testenv.Run(t, newer, nil)
	testenv.EventuallyTrue(t, 10*time.Second, "the widened consumer", func() bool {
		c, err := old.JS.Consumer(ctx, broker.StreamName, old.Inbox.ConsumerName("garbage"))
		return err == nil && len(c.CachedInfo().Config.FilterSubjects) == 2
	})
	newerRun.Stop(t)

	order := func(id string) []byte {
		b, _ := json.Marshal(contracts.OrderPlacedV1{OrderID: id, Number: "F-" + id, Channel: contracts.ChannelShop,
			Customer: contracts.Customer{ID: "c"}, Lines: []contracts.LineItem{{LineNo: 1, Product: "p", Quantity: 1}}, PlacedAt: time.Now()})
		return b
	}
	for _, m := range []struct {
		subj, id, key string
		data          []byte
	}{
		{orders, "not-json", "g1", []byte(`{"order_id": "x", `)},
		{orders, "", "g2", order("no-id")},
		{orders, "breaks-contract", "g3", []byte(`{"order_id":"x"}`)},
		{extra, "unknown-here", "g4", order("extra")},
		{orders, "good-1", "g1", order("good-1")},
		{orders, "good-2", "g2", order("good-2")},
		{orders, "good-3", "g4", order("good-3")},
	} {
		if _, err := old.JS.PublishMsg(ctx, rawMsg(m.subj, m.id, m.key, m.data)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.EventuallyTrue(t, 30*time.Second, "four dead letters and three good messages", func() bool {
		return queryInt(t, old.DB, `SELECT COUNT(*) FROM dead_letter WHERE status = 'open'`) == 4 && distinctReceived(t, old.DB) == 3
	})
	dls, err := old.Inbox.DeadLetters(ctx, "open", 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, d := range dls {
		reasons[d.Key] = d.Reason
	}
	for key, want := range map[string]string{"g1": "decode", "g2": "no Nats-Msg-Id", "g3": "invalid message", "g4": "no handler for subject " + extra} {
		if !strings.Contains(reasons[key], want) {
			t.Errorf("dead letter of %s: reason %q, want it to mention %q", key, reasons[key], want)
		}
	}
	if got := queryInt(t, old.DB, `SELECT COUNT(*) FROM received WHERE msg_id LIKE 'good-%'`); got != 3 {
		t.Errorf("%d good messages processed, want 3", got)
	}
}
