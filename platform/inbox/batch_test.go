package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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

const batchSubject = "fabrika.test.batch"

// batchRig is an inbox whose batches the test makes itself: it takes the
// messages from a consumer of the stream and hands them to the inbox as
// one batch (ProcessBatch), as a worker hands what it took. Its handler
// writes an effect row and notes what it ran and what committed.
type batchRig struct {
	db  *sqldb.DB
	js  jetstream.JetStream
	c   jetstream.Consumer
	in  *inbox.Inbox
	reg *prometheus.Registry

	fail func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error // nil: every message succeeds

	mu        sync.Mutex
	ran       []string // message ids, a handler run each
	committed []string // message ids whose transaction committed
}

func newBatchRig(ctx context.Context, t *testing.T, e sqldb.Engine) *batchRig {
	t.Helper()
	r := &batchRig{db: testenv.DBOn(t, e, effectMigrations), js: newStream(ctx, t, "inbox-batch-rig"), reg: prometheus.NewRegistry()}
	var err error
	r.c, err = r.js.CreateOrUpdateConsumer(ctx, broker.StreamName, jetstream.ConsumerConfig{
		Durable: "svc-batch", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: batchSubject, AckWait: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.in = newInbox(t, r.db, r.js, inbox.Config{BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}, r.reg)
	return r
}

func (r *batchRig) handler(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
	r.mu.Lock()
	r.ran = append(r.ran, m.ID)
	r.mu.Unlock()
	tx.AfterCommit(func() {
		r.mu.Lock()
		r.committed = append(r.committed, m.ID)
		r.mu.Unlock()
	})
	if _, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'x')`, m.ID); err != nil {
		return err
	}
	if r.fail != nil {
		return r.fail(ctx, tx, m)
	}
	return nil
}

func (r *batchRig) publish(ctx context.Context, t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		msg := nats.NewMsg(batchSubject)
		msg.Header.Set("Nats-Msg-Id", id)
		msg.Header.Set("Fabrika-Key", "k-"+id)
		msg.Data = []byte(`{}`)
		if _, err := r.js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
}

// take takes the next n deliveries from the consumer.
func (r *batchRig) take(ctx context.Context, t *testing.T, n int) []jetstream.Msg {
	t.Helper()
	var ms []jetstream.Msg
	testenv.Eventually(t, 10*time.Second, func() error {
		b, err := r.c.Fetch(n-len(ms), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		for m := range b.Messages() {
			ms = append(ms, m)
		}
		if len(ms) < n {
			return fmt.Errorf("took %d of %d deliveries (%v)", len(ms), n, b.Error())
		}
		return nil
	})
	return ms
}

// process runs ms as one batch.
func (r *batchRig) process(ctx context.Context, ms []jetstream.Msg) {
	r.in.ProcessBatch(ctx, "batch", map[string]inbox.Handler{batchSubject: r.handler}, ms)
}

// awaitPending waits until n delivered messages are not acknowledged: the
// broker learns of acks asynchronously.
func (r *batchRig) awaitPending(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		info, err := r.c.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumAckPending != n || info.NumPending != 0 {
			return fmt.Errorf("%d messages await their ack and %d their delivery, want %d and 0", info.NumAckPending, info.NumPending, n)
		}
		return nil
	})
}

func (r *batchRig) notes() (ran, committed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ran), slices.Clone(r.committed)
}

// column returns a query's one column.
func column(ctx context.Context, t *testing.T, db *sqldb.DB, query string) []string {
	t.Helper()
	rs, err := db.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBatchMiddleFailure: the middle message of a batch fails, in each way
// a handler can fail; the batch's optimistic run (no savepoints) is rolled
// back and run again with a savepoint a message, so the others commit once
// (their effects, records and AfterCommit functions) and are acknowledged,
// and only the failing one is redelivered (or dead-lettered, when its
// failure is permanent).
func TestBatchMiddleFailure(t *testing.T) {
	t.Parallel()
	failures := []struct {
		name      string
		fail      func(ctx context.Context, tx *sqldb.Tx) error
		permanent bool
	}{
		{name: "error", fail: func(context.Context, *sqldb.Tx) error { return errors.New("m-2 fails") }},
		{name: "panic", fail: func(context.Context, *sqldb.Tx) error { panic("m-2 panics") }},
		{name: "failing statement", fail: func(ctx context.Context, tx *sqldb.Tx) error {
			// On PostgreSQL the whole transaction is aborted.
			_, err := tx.ExecContext(ctx, `INSERT INTO no_such_table VALUES (1)`)
			return err
		}},
		{name: "permanent", permanent: true, fail: func(context.Context, *sqldb.Tx) error {
			return inbox.Permanent(errors.New("m-2 can never succeed"))
		}},
	}
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		for _, tc := range failures {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				r := newBatchRig(ctx, t, e)
				r.fail = func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
					if m.ID == "m-2" && m.Deliveries == 1 {
						return tc.fail(ctx, tx)
					}
					return nil
				}
				r.publish(ctx, t, "m-0", "m-1", "m-2", "m-3", "m-4")
				r.process(ctx, r.take(ctx, t, 5))

				others := []string{"m-0", "m-1", "m-3", "m-4"}
				if got := column(ctx, t, r.db, `SELECT msg_id FROM effect ORDER BY msg_id`); !slices.Equal(got, others) {
					t.Errorf("effects of %v, want %v once each", got, others)
				}
				if got := column(ctx, t, r.db, `SELECT msg_id FROM inbox WHERE consumer = 'svc-batch' ORDER BY msg_id`); !slices.Equal(got, others) {
					t.Errorf("recorded %v, want %v", got, others)
				}
				if _, committed := r.notes(); !slices.Equal(committed, others) {
					t.Errorf("after-commit functions of %v, want %v in order", committed, others)
				}
				if n := counterSum(t, r.reg, "fabrika_inbox_batch_reruns_total"); n != 1 {
					t.Errorf("%v batches run again, want 1", n)
				}
				if tc.permanent {
					if got := column(ctx, t, r.db, `SELECT msg_id FROM dead_letter WHERE consumer = 'svc-batch'`); !slices.Equal(got, []string{"m-2"}) {
						t.Errorf("dead letters of %v, want m-2", got)
					}
					r.awaitPending(ctx, t, 0)
					return
				}
				r.awaitPending(ctx, t, 1)
				again := r.take(ctx, t, 1)
				if id := again[0].Headers().Get("Nats-Msg-Id"); id != "m-2" {
					t.Fatalf("redelivered %s, want m-2", id)
				}
				r.process(ctx, again)
				all := []string{"m-0", "m-1", "m-2", "m-3", "m-4"}
				if got := column(ctx, t, r.db, `SELECT msg_id FROM effect ORDER BY msg_id`); !slices.Equal(got, all) {
					t.Errorf("effects of %v after the redelivery, want %v once each", got, all)
				}
				r.awaitPending(ctx, t, 0)
			})
		}
	})
}

// TestBatchSkipsDuplicates: a batch's one INSERT of its records finds the
// message processed before and the message delivered twice in the batch:
// their handlers do not run again, and every delivery is acknowledged.
func TestBatchSkipsDuplicates(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r := newBatchRig(ctx, t, e)
		if _, err := inbox.Deliver(ctx, r.db, "svc-batch", r.handler, inbox.Message{ID: "m-1", Subject: batchSubject, Key: "k-m-1", Deliveries: 1}); err != nil {
			t.Fatal(err)
		}
		r.publish(ctx, t, "m-0", "m-1", "m-2", "m-3")
		batch := r.take(ctx, t, 4)
		if err := batch[3].Nak(); err != nil { // m-3 comes again, into the same batch
			t.Fatal(err)
		}
		batch = append(batch, r.take(ctx, t, 1)...)
		r.process(ctx, batch)

		if ran, _ := r.notes(); !slices.Equal(ran, []string{"m-1", "m-0", "m-2", "m-3"}) {
			t.Errorf("handlers ran for %v, want m-1 (delivered before), m-0, m-2, m-3", ran)
		}
		want := []string{"m-0", "m-1", "m-2", "m-3"}
		if got := column(ctx, t, r.db, `SELECT msg_id FROM effect ORDER BY msg_id`); !slices.Equal(got, want) {
			t.Errorf("effects of %v, want %v once each", got, want)
		}
		if n := counterSum(t, r.reg, "fabrika_inbox_duplicates_total"); n != 2 {
			t.Errorf("%v duplicates, want 2", n)
		}
		if n := counterSum(t, r.reg, "fabrika_inbox_processed_total"); n != 3 {
			t.Errorf("%v processed, want 3", n)
		}
		r.awaitPending(ctx, t, 0)
	})
}

// TestBatchStatements counts, with pg_stat_statements, the statements
// PostgreSQL runs for a batch whose messages all succeed, each handler
// running one INSERT: BEGIN, the one INSERT of the batch's inbox records,
// the handlers' statements, COMMIT. With a savepoint a message (SAVEPOINT,
// the record's INSERT, the handler, RELEASE) a batch of 10 cost 42.
func TestBatchStatements(t *testing.T) {
	t.Parallel()
	if !testenv.PostgresConfigured() {
		t.Skip("statements are counted by PostgreSQL's pg_stat_statements")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newBatchRig(ctx, t, sqldb.Postgres)
	stats, err := countStatements(ctx, r.db)
	if err != nil {
		t.Skip(err)
	}
	for _, n := range []int{1, 10} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("n%d-%d", n, i)
		}
		r.publish(ctx, t, ids...)
		batch := r.take(ctx, t, n)
		if err := stats.reset(ctx); err != nil {
			t.Fatal(err)
		}
		r.process(ctx, batch)
		calls, _, list, err := stats.since(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := n + 3; calls != want {
			t.Errorf("a clean batch of %d ran %d statements, want %d:\n%s", n, calls, want, strings.Join(list, "\n"))
		}
	}
}

// statements counts the statements PostgreSQL runs in one database, with
// pg_stat_statements.
type statements struct{ db *sqldb.DB }

// countStatements starts counting the statements of db, or tells why it
// cannot: pg_stat_statements is not in the server's
// shared_preload_libraries.
func countStatements(ctx context.Context, db *sqldb.DB) (*statements, error) {
	if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return nil, fmt.Errorf("pg_stat_statements: %w", err)
	}
	s := &statements{db: db}
	if err := s.reset(ctx); err != nil {
		return nil, fmt.Errorf("pg_stat_statements is not loaded (shared_preload_libraries): %w", err)
	}
	return s, nil
}

const thisDatabase = `(SELECT oid FROM pg_database WHERE datname = current_database())`

func (s *statements) reset(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `SELECT pg_stat_statements_reset(0, `+thisDatabase+`, 0)`)
	return err
}

// since returns the statements run since the last reset, apart from the
// counting's own: how many, their execution time, and each as
// "CALLS x QUERY".
func (s *statements) since(ctx context.Context) (calls int, exec time.Duration, list []string, err error) {
	rs, err := s.db.QueryContext(ctx, `SELECT calls, total_exec_time, regexp_replace(query, '\s+', ' ', 'g') FROM pg_stat_statements
		WHERE dbid = `+thisDatabase+` AND query NOT LIKE '%pg_stat_statements%' ORDER BY query`)
	if err != nil {
		return 0, 0, nil, err
	}
	defer rs.Close()
	for rs.Next() {
		var n int
		var ms float64
		var q string
		if err := rs.Scan(&n, &ms, &q); err != nil {
			return 0, 0, nil, err
		}
		calls += n
		exec += time.Duration(ms * float64(time.Millisecond))
		list = append(list, fmt.Sprintf("%d x %s", n, q))
	}
	return calls, exec, list, rs.Err()
}
