package inbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/fabrika/fabrika/contracts"
	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

func validOrder() contracts.OrderPlacedV1 {
	return contracts.OrderPlacedV1{
		OrderID: "o-1", Number: "F-1", Channel: contracts.ChannelShop,
		Customer: contracts.Customer{ID: "c-1"},
		Lines:    []contracts.LineItem{{LineNo: 1, Product: "flyer", Quantity: 100}},
		PlacedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestJSONAdapter(t *testing.T) {
	t.Parallel()
	good, _ := json.Marshal(validOrder())
	noLines := validOrder()
	noLines.Lines = nil
	invalid, _ := json.Marshal(noLines)
	errHandler := errors.New("database is busy")
	tests := []struct {
		name      string
		payload   string
		handler   error
		called    bool
		permanent bool
		wantErr   error
	}{
		{name: "valid", payload: string(good), called: true},
		{name: "unknown fields are ignored", payload: strings.Replace(string(good), `{`, `{"extra":[1,2],`, 1), called: true},
		{name: "handler error stays retryable", payload: string(good), handler: errHandler, called: true, wantErr: errHandler},
		{name: "handler permanent error", payload: string(good), handler: inbox.Permanent(errHandler), called: true, permanent: true},
		{name: "not JSON", payload: `{"order_id":`, permanent: true},
		{name: "wrong type", payload: `{"order_id": 12}`, permanent: true},
		{name: "JSON array", payload: `[]`, permanent: true},
		{name: "empty", payload: ``, permanent: true},
		{name: "breaks the contract", payload: string(invalid), permanent: true, wantErr: contracts.ErrInvalid},
		{name: "null", payload: `null`, permanent: true, wantErr: contracts.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var called bool
			h := inbox.JSON(func(ctx context.Context, tx *sqldb.Tx, m inbox.Message, p contracts.OrderPlacedV1) error {
				called = true
				if p.OrderID != "o-1" || len(p.Lines) != 1 || m.ID != "m-1" {
					t.Errorf("decoded %+v from message %+v", p, m)
				}
				return tc.handler
			})
			err := h(context.Background(), nil, inbox.Message{ID: "m-1", Subject: "fabrika.order.placed", Payload: []byte(tc.payload)})
			if called != tc.called {
				t.Errorf("handler called=%v, want %v", called, tc.called)
			}
			if got := errors.Is(err, inbox.ErrPermanent); got != tc.permanent {
				t.Errorf("permanent=%v (%v), want %v", got, err, tc.permanent)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
			if !tc.permanent && tc.wantErr == nil && err != nil {
				t.Errorf("err %v", err)
			}
		})
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	if inbox.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	cause := errors.New("cause")
	err := inbox.Permanent(cause)
	if !errors.Is(err, inbox.ErrPermanent) || !errors.Is(err, cause) {
		t.Errorf("%v must be both ErrPermanent and its cause", err)
	}
	if errors.Is(fmt.Errorf("wrapped: %w", cause), inbox.ErrPermanent) {
		t.Error("a plain error is permanent")
	}
}

func newInbox(t testing.TB, db *sqldb.DB, js jetstream.JetStream, cfg inbox.Config, reg prometheus.Registerer) *inbox.Inbox {
	t.Helper()
	if cfg.Service == "" {
		cfg.Service = "svc"
	}
	in, err := inbox.New(db, js, cfg, testenv.Logger(t), reg, noop.NewTracerProvider())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// newStream starts a broker for the test and returns its JetStream with
// the platform's stream in place.
func newStream(ctx context.Context, t testing.TB, name string) jetstream.JetStream {
	t.Helper()
	_, js := newBrokerStream(ctx, t, name)
	return js
}

// newBrokerStream is newStream that also returns the broker.
func newBrokerStream(ctx context.Context, t testing.TB, name string) (*testenv.Broker, jetstream.JetStream) {
	t.Helper()
	b := testenv.NewBroker(t)
	js, err := jetstream.New(b.Connect(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broker.EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	return b, js
}

func TestDelayGrows(t *testing.T) {
	t.Parallel()
	in := newInbox(t, nil, nil, inbox.Config{BaseDelay: time.Second, MaxDelay: time.Minute}, nil)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := in.Delay(i + 1); got != w {
			t.Errorf("delay after delivery %d: %v, want %v", i+1, got, w)
		}
	}
	if got := in.Delay(1000); got != time.Minute {
		t.Errorf("delay after 1000 deliveries: %v", got)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []inbox.Config{
		{},
		{Service: "s", MaxDeliveries: -1},
		{Service: "s", BaseDelay: time.Minute, MaxDelay: time.Second},
		{Service: "s", Workers: -2},
		{Service: "s", AckWait: -time.Second},
		{Service: "s", Heartbeat: 100 * time.Millisecond},
		{Service: "s", Heartbeat: time.Minute},
	} {
		if _, err := inbox.New(nil, nil, c, testenv.Logger(t), nil, noop.NewTracerProvider()); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		db := testenv.DBOn(t, e, nil)
		in := newInbox(t, db, nil, inbox.Config{Retention: 7 * 24 * time.Hour}, nil)
		now := time.Now()
		ages := map[string]time.Duration{"old": 8 * 24 * time.Hour, "edge": 7*24*time.Hour + time.Minute, "young": 6 * 24 * time.Hour, "new": 0}
		for id, age := range ages {
			if _, err := db.ExecContext(ctx, `INSERT INTO inbox (consumer, msg_id, subject, processed_at) VALUES ('svc-x', $1, 's', $2)`, id, now.Add(-age).UnixMicro()); err != nil {
				t.Fatal(err)
			}
		}
		n, err := in.Prune(ctx, now)
		if err != nil || n != 2 {
			t.Fatalf("pruned %d (%v), want 2", n, err)
		}
		var left int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox WHERE msg_id IN ('young', 'new')`).Scan(&left); err != nil || left != 2 {
			t.Fatalf("%d young ids left (%v), want 2", left, err)
		}
	})
}

var effectMigrations = fstest.MapFS{"00001_effect.sql": {Data: []byte(`-- +goose Up
CREATE TABLE effect (msg_id TEXT NOT NULL, note TEXT NOT NULL);
-- +goose Down
DROP TABLE effect;
`)}}

// TestDeadLetterReplayDiscard runs a real consumer: a handler that keeps
// failing dead-letters its messages after MaxDeliveries; replaying one once
// the handler is fixed applies its effect once; discarding closes the other.
func TestDeadLetterReplayDiscard(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := testenv.DBOn(t, e, effectMigrations)
		js := newStream(ctx, t, "inbox-test")
		reg := prometheus.NewRegistry()
		in := newInbox(t, db, js, inbox.Config{MaxDeliveries: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, reg)
		var broken atomic.Bool
		broken.Store(true)
		var calls atomic.Int32
		in.Subscribe("things", map[string]inbox.Handler{
			"fabrika.test.thing": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
				calls.Add(1)
				if _, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, $2)`, m.ID, string(m.Payload)); err != nil {
					return err
				}
				if broken.Load() {
					return errors.New("downstream table is locked")
				}
				return nil
			},
		})
		runInbox(t, ctx, in)

		for _, id := range []string{"m-1", "m-2"} {
			msg := nats.NewMsg("fabrika.test.thing")
			msg.Header.Set("Nats-Msg-Id", id)
			msg.Header.Set("Fabrika-Key", "k-"+id)
			msg.Data = []byte(`{"id":"` + id + `"}`)
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		var dls []inbox.DeadLetter
		testenv.Eventually(t, time.Minute, func() error {
			var err error
			if dls, err = in.DeadLetters(ctx, "open", 10); err != nil {
				return err
			}
			if len(dls) != 2 {
				return fmt.Errorf("%d open dead letters, want 2", len(dls))
			}
			return nil
		})
		byMsg := map[string]inbox.DeadLetter{}
		for _, d := range dls {
			byMsg[d.MsgID] = d
			if d.Consumer != "svc-things" || d.Deliveries != 3 || !strings.Contains(d.Reason, "downstream table is locked") || d.Key != "k-"+d.MsgID {
				t.Errorf("dead letter %+v", d)
			}
		}
		if got := calls.Load(); got != 6 {
			t.Errorf("handler called %d times, want 3 deliveries x 2 messages", got)
		}
		want := `
	# HELP fabrika_inbox_dead_letters_total Messages dead-lettered: they need a person.
	# TYPE fabrika_inbox_dead_letters_total counter
	fabrika_inbox_dead_letters_total{consumer="svc-things"} 2
	# HELP fabrika_inbox_handler_failures_total Handler failures that will be redelivered.
	# TYPE fabrika_inbox_handler_failures_total counter
	fabrika_inbox_handler_failures_total{consumer="svc-things"} 4
	`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "fabrika_inbox_dead_letters_total", "fabrika_inbox_handler_failures_total"); err != nil {
			t.Error(err)
		}
		effects := func() int {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM effect`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := effects(); n != 0 {
			t.Fatalf("%d effects of rolled back deliveries", n)
		}

		// A replay while the handler still fails keeps the dead letter open.
		if err := in.Replay(ctx, byMsg["m-1"].ID); err == nil {
			t.Fatal("replay with a failing handler succeeded")
		}
		broken.Store(false)
		if err := in.Replay(ctx, byMsg["m-1"].ID); err != nil {
			t.Fatal(err)
		}
		if err := in.Replay(ctx, byMsg["m-1"].ID); !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("second replay: %v, want ErrNotFound", err)
		}
		if err := in.Discard(ctx, byMsg["m-2"].ID); err != nil {
			t.Fatal(err)
		}
		if err := inbox.DiscardDeadLetter(ctx, db, byMsg["m-2"].ID); !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("second discard: %v, want ErrNotFound", err)
		}
		if n := effects(); n != 1 {
			t.Errorf("%d effects after one replay, want 1", n)
		}
		for status, want := range map[string]int{"open": 0, "replayed": 1, "discarded": 1} {
			list, err := inbox.ListDeadLetters(ctx, db, status, 0)
			if err != nil || len(list) != want {
				t.Errorf("%d dead letters %s (%v), want %d", len(list), status, err, want)
			}
		}
		var processed int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox WHERE consumer = 'svc-things' AND msg_id = 'm-1'`).Scan(&processed); err != nil || processed != 1 {
			t.Errorf("replayed message recorded %d times in the inbox (%v)", processed, err)
		}
	})
}

// TestDeadLetterPayloadRoundTrip stores payloads that are not plain text
// and checks that a replay would hand the handler exactly what arrived.
func TestDeadLetterPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		db := testenv.DBOn(t, e, nil)
		in := newInbox(t, db, nil, inbox.Config{}, nil)
		for i, p := range [][]byte{
			[]byte(`{"ok":true}`), {0xff, 0xfe, 0x00, 0x01}, []byte("a\x00b"), []byte("base64:not really"), {}, []byte("ünïcödé"),
		} {
			checkRoundTrip(t, in, db, fmt.Sprintf("m-%d", i), p, map[string]string{"H": "v\x00\xff"})
		}
	})
}

func checkRoundTrip(t *testing.T, in *inbox.Inbox, db *sqldb.DB, id string, payload []byte, headers map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `DELETE FROM dead_letter`); err != nil {
		t.Fatal(err)
	}
	msg := inbox.Message{ID: id, Subject: "fabrika.test.x", Key: "k", Payload: payload, Headers: headers, Deliveries: 1}
	if err := in.StoreDeadLetter(ctx, "svc-x", msg, errors.New("reason\x00\xff")); err != nil {
		t.Fatalf("store %q: %v", payload, err)
	}
	list, err := inbox.ListDeadLetters(ctx, db, "open", 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("%d dead letters stored for %q (%v)", len(list), id, err)
	}
	got, err := inbox.StoredPayload(list[0])
	if err != nil || string(got) != string(payload) {
		t.Fatalf("payload %q came back as %q (%v)", payload, got, err)
	}
}

// TestBatchIsolatesFailures lets messages pile up before the consumer
// starts, so that a worker takes them as one batch: the one that fails is
// undone alone (its effect and its after-commit hook), the others commit
// once, and the failed one succeeds on its redelivery.
func TestBatchIsolatesFailures(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := testenv.DBOn(t, e, effectMigrations)
		js := newStream(ctx, t, "inbox-batch-test")
		const n = 20
		for i := range n {
			msg := nats.NewMsg("fabrika.test.batch")
			msg.Header.Set("Nats-Msg-Id", fmt.Sprint("m-", i))
			msg.Header.Set("Fabrika-Key", "one-key")
			msg.Data = []byte(`{}`)
			if _, err := js.PublishMsg(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		in := newInbox(t, db, js, inbox.Config{Workers: 1, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, nil)
		var calls, afterCommits atomic.Int32
		in.Subscribe("batch", map[string]inbox.Handler{
			"fabrika.test.batch": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
				calls.Add(1)
				tx.AfterCommit(func() { afterCommits.Add(1) })
				if _, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'x')`, m.ID); err != nil {
					return err
				}
				if m.ID == "m-7" && m.Deliveries == 1 {
					return errors.New("first delivery of m-7 fails")
				}
				if m.ID == "m-11" && m.Deliveries == 1 {
					// A failing statement: PostgreSQL would abort the whole
					// transaction without the savepoint.
					_, err := tx.ExecContext(ctx, `INSERT INTO no_such_table VALUES (1)`)
					return err
				}
				return nil
			},
		})
		runInbox(t, ctx, in)
		var effects int
		testenv.Eventually(t, time.Minute, func() error {
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM effect`).Scan(&effects); err != nil {
				return err
			}
			if effects < n || afterCommits.Load() < int32(n) {
				return fmt.Errorf("%d effects and %d after-commit hooks of %d", effects, afterCommits.Load(), n)
			}
			return nil
		})
		var distinct int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(DISTINCT msg_id) FROM effect`).Scan(&distinct); err != nil {
			t.Fatal(err)
		}
		if effects != n || distinct != n {
			t.Fatalf("%d effects of %d distinct messages, want %d once each", effects, distinct, n)
		}
		if c, a := calls.Load(), afterCommits.Load(); c != n+2 || a != n {
			t.Errorf("handler ran %d times (want %d), after-commit hooks %d (want %d)", c, n+2, a, n)
		}
	})
}

// TestBatchDeadlockRunsMessagesAlone: two workers' batches lock the same two
// rows in opposite orders, holding each lock a while, so on PostgreSQL they
// deadlock. The batch that loses runs its messages one per transaction
// instead of sending them round again after a redelivery delay (a minute
// here: longer than the test waits), and every effect happens once.
func TestBatchDeadlockRunsMessagesAlone(t *testing.T) {
	t.Parallel()
	if !testenv.PostgresConfigured() {
		t.Skip("SQLite has one writer at a time: its transactions cannot deadlock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testenv.DBOn(t, sqldb.Postgres, lockMigrations)
	if _, err := db.ExecContext(ctx, `INSERT INTO acct (id, n) VALUES ('r1', 0), ('r2', 0)`); err != nil {
		t.Fatal(err)
	}
	js := newStream(ctx, t, "inbox-deadlock-test")
	// Two keys: a worker that holds a key takes its next messages, so each
	// worker's batches run one key's messages.
	keys := [2]string{"key-0", "key-1"}
	// Worker 0's messages lock r1, r2, r1, ... and worker 1's r2, r1, r2,
	// ...: two batches that run side by side from the same parity hold one
	// row each and ask for the other's. Whether they do depends on how the
	// workers are scheduled, so the test runs rounds until one batch met a
	// deadlock (or fails after the last); in each round the workers' first
	// messages wait for each other once each holds its row, which lines
	// the batches after them up.
	const perWorker, rounds = 12, 5
	publish := func(round int) {
		for i := range perWorker {
			for w, rows := range [2][2]string{{"r1", "r2"}, {"r2", "r1"}} {
				msg := nats.NewMsg("fabrika.test.lock")
				msg.Header.Set("Nats-Msg-Id", fmt.Sprintf("%d-w%d-%d", round, w, i))
				msg.Header.Set("Fabrika-Key", keys[w])
				msg.Data = []byte(`"` + rows[i%2] + `"`)
				if _, err := js.PublishMsg(ctx, msg); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	var seen sync.Map // first messages of a round already handled once
	var met sync.Map  // round -> *meeting
	type meeting struct {
		arrived atomic.Int32
		both    chan struct{}
	}
	reg := prometheus.NewRegistry()
	in := newInbox(t, db, js, inbox.Config{Workers: 2, BaseDelay: time.Minute, MaxDelay: time.Minute}, reg)
	in.Subscribe("lock", map[string]inbox.Handler{
		"fabrika.test.lock": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			var row string
			if err := json.Unmarshal(m.Payload, &row); err != nil {
				return inbox.Permanent(err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE acct SET n = n + 1 WHERE id = $1`, row); err != nil {
				return err
			}
			round, workerIndex, _ := strings.Cut(m.ID, "-w") // "ROUND-wWORKER-INDEX"
			if _, again := seen.LoadOrStore(m.ID, true); !again && strings.HasSuffix(workerIndex, "-0") {
				v, _ := met.LoadOrStore(round, &meeting{both: make(chan struct{})})
				mt := v.(*meeting)
				if mt.arrived.Add(1) == 2 {
					close(mt.both)
				}
				select {
				case <-mt.both:
				case <-time.After(5 * time.Second): // the other worker never came: the round may not deadlock
				}
			}
			time.Sleep(20 * time.Millisecond) // hold the lock while the other worker takes its own
			return nil
		},
	})
	publish(0)
	runInbox(t, ctx, in)
	var splits float64
	for round := 0; round < rounds && splits == 0; round++ {
		if round > 0 {
			publish(round)
		}
		want := 2 * perWorker * (round + 1)
		var total int
		testenv.Eventually(t, time.Minute, func() error {
			if err := db.QueryRowContext(ctx, `SELECT SUM(n) FROM acct`).Scan(&total); err != nil {
				return err
			}
			if total < want {
				return fmt.Errorf("round %d: %d effects of %d", round, total, want)
			}
			return nil
		})
		var processed int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox WHERE consumer = 'svc-lock'`).Scan(&processed); err != nil {
			t.Fatal(err)
		}
		if total != want || processed != want {
			t.Fatalf("round %d: %d effects, %d messages recorded; want %d each, within the test's time", round, total, processed, want)
		}
		splits = counterSum(t, reg, "fabrika_inbox_batch_splits_total")
		t.Logf("round %d: batches split after a deadlock so far: %v", round, splits)
	}
	if splits == 0 {
		t.Fatalf("no batch met a deadlock in %d rounds: the test did not test the split", rounds)
	}
}

var lockMigrations = fstest.MapFS{"00001_acct.sql": {Data: []byte(`-- +goose Up
CREATE TABLE acct (id TEXT PRIMARY KEY, n INTEGER NOT NULL);
-- +goose Down
DROP TABLE acct;
`)}}

// counterSum adds up a counter family's values over its labels.
func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// runInbox runs in until the test ends.
func runInbox(t *testing.T, ctx context.Context, in *inbox.Inbox) {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("inbox: %v", err)
		}
	})
}

// TestSubscribeWithBatchSize: a subscription's own batch size of 1 runs
// every waiting message in a transaction of its own, though the inbox's
// Config batches up to 64.
func TestSubscribeWithBatchSize(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testenv.DB(t, effectMigrations)
	js := newStream(ctx, t, "inbox-subscribe-with-test")
	const n = 20
	for i := range n { // all waiting before the inbox starts: a batch would take them together
		msg := nats.NewMsg("fabrika.test.alone")
		msg.Header.Set("Nats-Msg-Id", fmt.Sprint("m-", i))
		msg.Header.Set("Fabrika-Key", "one-key")
		msg.Data = []byte(`{}`)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	in := newInbox(t, db, js, inbox.Config{Workers: 1}, nil)
	var mu sync.Mutex
	txs := map[*sqldb.Tx]int{}
	in.SubscribeWith("alone", map[string]inbox.Handler{
		"fabrika.test.alone": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			mu.Lock()
			txs[tx]++
			mu.Unlock()
			return nil
		},
	}, inbox.SubscriptionOptions{BatchSize: 1})
	runInbox(t, ctx, in)
	testenv.Eventually(t, 30*time.Second, func() error {
		var done int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM inbox WHERE consumer = 'svc-alone'`).Scan(&done); err != nil {
			return err
		}
		if done < n {
			return fmt.Errorf("%d of %d messages processed", done, n)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(txs) != n {
		t.Errorf("%d messages ran in %d transactions, want one each", n, len(txs))
	}
}
