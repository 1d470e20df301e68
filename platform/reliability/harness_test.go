package reliability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/host"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// subject is what the sender enqueues and the receiver consumes.
const subject = "fabrika.test.item"

// senderMigrations add the sender's committed log: a row per message,
// written in the same transaction as the outbox row, so the test knows what
// was committed whatever happened to the process.
var senderMigrations = fstest.MapFS{"00001_sent.sql": {Data: []byte(`-- +goose Up
CREATE TABLE sent (msg_id TEXT PRIMARY KEY, msg_key TEXT NOT NULL, seq BIGINT NOT NULL);
-- +goose Down
DROP TABLE sent;
`)}}

// receiverMigrations: received has no unique constraint on purpose, so that
// processing a message twice shows up as two rows instead of failing the
// handler; key_state and order_violation check the order per key.
var receiverMigrations = fstest.MapFS{"00001_received.sql": {Data: []byte(`-- +goose Up
CREATE TABLE received (msg_id TEXT NOT NULL, msg_key TEXT NOT NULL, seq BIGINT NOT NULL, delivery INTEGER NOT NULL);
CREATE INDEX received_msg ON received (msg_id);
CREATE TABLE key_state (msg_key TEXT PRIMARY KEY, last_seq BIGINT NOT NULL);
CREATE TABLE order_violation (msg_key TEXT NOT NULL, got BIGINT NOT NULL, last_seq BIGINT NOT NULL);
-- +goose Down
DROP TABLE order_violation;
DROP TABLE key_state;
DROP TABLE received;
`)}}

type item struct {
	Key    string `json:"key"`
	Seq    int64  `json:"seq"`
	SentAt int64  `json:"sent_at"` // Unix microseconds
}

// enqueue commits one message and its sent row.
func enqueue(ctx context.Context, db *sqldb.DB, out *outbox.Outbox, subj, key string, seq int64) (string, error) {
	var id string
	err := db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error {
		m, err := outbox.NewMessage(subj, key, item{Key: key, Seq: seq, SentAt: time.Now().UnixMicro()})
		if err != nil {
			return err
		}
		id = m.ID
		if _, err := tx.ExecContext(ctx, `INSERT INTO sent (msg_id, msg_key, seq) VALUES ($1, $2, $3)`, m.ID, key, seq); err != nil {
			return err
		}
		return out.Enqueue(ctx, tx, m)
	})
	return id, err
}

// record is the receiver's effect: a received row, and the order check.
func record(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
	var it item
	if err := json.Unmarshal(m.Payload, &it); err != nil {
		return inbox.Permanent(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO received (msg_id, msg_key, seq, delivery) VALUES ($1, $2, $3, $4)`, m.ID, it.Key, it.Seq, m.Deliveries); err != nil {
		return err
	}
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT last_seq FROM key_state WHERE msg_key = $1`, it.Key).Scan(&last)
	switch {
	case err == nil && it.Seq <= last:
		_, err = tx.ExecContext(ctx, `INSERT INTO order_violation (msg_key, got, last_seq) VALUES ($1, $2, $3)`, it.Key, it.Seq, last)
		return err
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE key_state SET last_seq = $1 WHERE msg_key = $2`, it.Seq, it.Key)
		return err
	default:
		_, err = tx.ExecContext(ctx, `INSERT INTO key_state (msg_key, last_seq) VALUES ($1, $2)`, it.Key, it.Seq)
		return err
	}
}

// openHost opens a host without HTTP listener.
func openHost(t testing.TB, cfg host.Config, deps host.Deps) *host.Host {
	t.Helper()
	cfg.HTTPAddr = ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := host.Open(ctx, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// receiverConfig is a receiver host on a fresh database.
func receiverConfig(t testing.TB) host.Config {
	return testenv.HostConfig(t, "receiver", receiverMigrations)
}

func senderConfig(t testing.TB) host.Config {
	return testenv.HostConfig(t, "sender", senderMigrations)
}

// subscribe registers the receiver's recording handler.
func subscribe(h *host.Host, handler inbox.Handler) {
	if handler == nil {
		handler = record
	}
	h.Inbox.Subscribe("items", map[string]inbox.Handler{subject: handler})
}

func queryInt(t testing.TB, db *sqldb.DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// distinctReceived counts the messages processed at least once.
func distinctReceived(t testing.TB, db *sqldb.DB) int {
	return queryInt(t, db, `SELECT COUNT(DISTINCT msg_id) FROM received`)
}

// checkExactlyOnce asserts that the receiver processed every sent message
// exactly once and nothing else.
func checkExactlyOnce(t testing.TB, sender, receiver *sqldb.DB) {
	t.Helper()
	sent := map[string]bool{}
	rs, err := sender.Query(`SELECT msg_id FROM sent`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		sent[id] = true
	}
	rs.Close()
	got := map[string]int{}
	rs, err = receiver.Query(`SELECT msg_id FROM received`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got[id]++
	}
	rs.Close()
	var missing, twice, unknown []string
	for id := range sent {
		switch got[id] {
		case 0:
			missing = append(missing, id)
		case 1:
		default:
			twice = append(twice, fmt.Sprintf("%s x%d", id, got[id]))
		}
	}
	for id := range got {
		if !sent[id] {
			unknown = append(unknown, id)
		}
	}
	if len(missing)+len(twice)+len(unknown) > 0 {
		t.Fatalf("of %d committed: %d missing %v, %d processed more than once %v, %d never committed %v",
			len(sent), len(missing), head(missing), len(twice), head(twice), len(unknown), head(unknown))
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// metric returns the text form of a host's metric for comparison.
func checkMetric(t testing.TB, h *host.Host, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(h.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

// outage cuts the sender's broker connection and restores it: the embedded
// server is stopped and restarted; an external one is reached through a TCP
// proxy that is cut.
type outage struct {
	b     *testenv.Broker
	proxy *testenv.Proxy
}

func newOutage(t testing.TB, b *testenv.Broker) *outage {
	o := &outage{b: b}
	if b.Server == nil {
		o.proxy = testenv.NewProxy(t, strings.TrimPrefix(b.URL, "nats://"))
	}
	return o
}

// Deps connects a host through the outage.
func (o *outage) Deps(t testing.TB, name string) host.Deps {
	if o.proxy == nil {
		return o.b.Deps(t, name)
	}
	nc, err := broker.Connect("nats://"+o.proxy.Addr(), nil, name, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return host.Deps{Logger: testenv.Logger(t), NATS: nc, TracerProvider: noop.NewTracerProvider()}
}

func (o *outage) Down(t testing.TB) {
	if o.proxy == nil {
		o.b.Stop()
		return
	}
	o.proxy.Cut()
}

func (o *outage) Up(t testing.TB) {
	if o.proxy == nil {
		o.b.Restart(t)
		return
	}
	o.proxy.Restore(t)
}

// rawMsg builds a message as a foreign or broken producer would publish it.
func rawMsg(subj, id, key string, data []byte) *nats.Msg {
	m := nats.NewMsg(subj)
	if id != "" {
		m.Header.Set("Nats-Msg-Id", id)
	}
	if key != "" {
		m.Header.Set("Fabrika-Key", key)
	}
	m.Data = data
	return m
}
