package outbox_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/otel/trace"

	"github.com/fabrika/fabrika/platform/broker"
	"github.com/fabrika/fabrika/platform/outbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// subjectNoStream is captured by no stream: nobody answers a publish to it,
// as while a stream elects its leader ("no response from stream"): the
// broker is unavailable for it, no attempt is spent.
const subjectNoStream = "nostream.test"

// subjectRefused is a subject whose messages the fixture's enqueue sends
// with a header the broker refuses (expected stream "NOT-FABRIKA"): a real
// rejection, which spends an attempt.
const subjectRefused = "fabrika.test.refused"

type fixture struct {
	db  *sqldb.DB
	js  jetstream.JetStream
	reg *prometheus.Registry
	out *outbox.Outbox
}

// newFixture builds an outbox over a fresh database. With withBroker the
// publisher is a real JetStream with the FABRIKA stream; otherwise the relay
// must not be run.
func newFixture(t *testing.T, e sqldb.Engine, cfg outbox.Config, withBroker bool) *fixture {
	t.Helper()
	f := &fixture{db: testenv.DBOn(t, e, nil), reg: prometheus.NewRegistry()}
	var pub outbox.Publisher
	if withBroker {
		b := testenv.NewBroker(t)
		js, err := jetstream.New(b.Connect(t, "outbox-test"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := broker.EnsureStream(ctx, js, 1); err != nil {
			t.Fatal(err)
		}
		f.js, pub = js, js
	}
	out, err := outbox.New(f.db, pub, cfg, testenv.Logger(t), f.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.out = out
	return f
}

// enqueue commits one message per (subject, key) pair, in order, each in
// its own transaction, and returns their ids.
func (f *fixture) enqueue(t *testing.T, pairs ...[2]string) []string {
	t.Helper()
	var ids []string
	for i, p := range pairs {
		m, err := outbox.NewMessage(p[0], p[1], map[string]any{"i": i, "key": p[1]})
		if err != nil {
			t.Fatal(err)
		}
		if p[0] == subjectRefused {
			m.Headers = map[string]string{"Nats-Expected-Stream": "NOT-FABRIKA"}
		}
		if err := f.db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
			return f.out.Enqueue(ctx, tx, m)
		}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	return ids
}

func (f *fixture) row(t *testing.T, id string) (status string, attempts int, next int64, ok bool) {
	t.Helper()
	err := f.db.QueryRowContext(context.Background(), `SELECT status, attempts, next_attempt_at FROM outbox WHERE id = $1`, id).Scan(&status, &attempts, &next)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return status, attempts, next, err == nil
}

func TestEnqueueValidation(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f := newFixture(t, e, outbox.Config{}, false)
		tests := []struct {
			name string
			msg  outbox.Message
		}{
			{"no subject", outbox.Message{Key: "k", Payload: json.RawMessage(`{}`)}},
			{"no payload", outbox.Message{Subject: "fabrika.x", Key: "k"}},
			{"payload not JSON", outbox.Message{Subject: "fabrika.x", Key: "k", Payload: json.RawMessage(`{"a":`)}},
		}
		for _, tc := range tests {
			err := f.db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
				return f.out.Enqueue(ctx, tx, tc.msg)
			})
			if !errors.Is(err, outbox.ErrInvalidMessage) {
				t.Errorf("%s: err %v, want ErrInvalidMessage", tc.name, err)
			}
		}
		var n int
		if err := f.db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rows after invalid enqueues (%v)", n, err)
		}
		if _, err := outbox.NewMessage("fabrika.x", "k", func() {}); err == nil {
			t.Error("NewMessage accepted a payload that does not marshal")
		}
	})
}

func TestEnqueueDefaultsAndTraceContext(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f := newFixture(t, e, outbox.Config{}, false)
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled})
		ctx := trace.ContextWithSpanContext(context.Background(), sc)
		msg := outbox.Message{Subject: "fabrika.x", Payload: json.RawMessage(`{"a":1}`), Headers: map[string]string{"X-Custom": "yes"}}
		if err := f.db.InTx(ctx, func(ctx context.Context, tx *sqldb.Tx) error { return f.out.Enqueue(ctx, tx, msg) }); err != nil {
			t.Fatal(err)
		}
		var id, key, headers string
		var created int64
		if err := f.db.QueryRow(`SELECT id, msg_key, headers, created_at FROM outbox`).Scan(&id, &key, &headers, &created); err != nil {
			t.Fatal(err)
		}
		var h map[string]string
		if err := json.Unmarshal([]byte(headers), &h); err != nil {
			t.Fatal(err)
		}
		switch {
		case len(id) != 36 || id[14] != '7':
			t.Errorf("id %q is not a UUIDv7", id)
		case key != id:
			t.Errorf("key %q, want the id when none is given", key)
		case created == 0:
			t.Error("created_at not set")
		case h["X-Custom"] != "yes" || !strings.Contains(h["traceparent"], sc.TraceID().String()):
			t.Errorf("headers %v lack the custom header or the trace context", h)
		}
	})
}

func TestEnqueueRolledBackIsNotSent(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		f := newFixture(t, e, outbox.Config{}, false)
		m, _ := outbox.NewMessage("fabrika.x", "k", 1)
		errBusiness := errors.New("business rule")
		err := f.db.InTx(context.Background(), func(ctx context.Context, tx *sqldb.Tx) error {
			if err := f.out.Enqueue(ctx, tx, m); err != nil {
				return err
			}
			return errBusiness
		})
		if !errors.Is(err, errBusiness) {
			t.Fatal(err)
		}
		if _, _, _, ok := f.row(t, m.ID); ok {
			t.Fatal("message of a rolled back transaction is in the outbox")
		}
	})
}

func TestClaimOrderPerKey(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{BatchSize: 4}, false)
		ids := f.enqueue(t, [2]string{"fabrika.x", "a"}, [2]string{"fabrika.x", "b"}, [2]string{"fabrika.x", "a"},
			[2]string{"fabrika.x", "c"}, [2]string{"fabrika.x", "a"}, [2]string{"fabrika.x", "b"})
		// Enqueue order, at most BatchSize.
		got, err := f.out.ClaimIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, ids[:4]) {
			t.Fatalf("first claim %v, want %v", got, ids[:4])
		}
		// A second relay instance on the same database gets nothing of a key
		// whose earlier message is leased: only the later message of a key
		// whose earlier ones are all unleased... here a and b are leased.
		other, err := outbox.New(f.db, nil, outbox.Config{BatchSize: 4}, testenv.Logger(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err = other.ClaimIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("second instance claimed %v while earlier messages of those keys are leased", got)
		}
		// When the lease runs out (the first instance died), the other takes
		// everything over, in order.
		if _, err := f.db.Exec(`UPDATE outbox SET lease_until = 1 WHERE lease_until > 0`); err != nil {
			t.Fatal(err)
		}
		got, err = other.ClaimIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, ids[:4]) {
			t.Fatalf("claim after lease expiry %v, want %v", got, ids[:4])
		}
	})
}

func TestClaimHoldsBackOnlyTheFailingKey(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{}, false)
		ids := f.enqueue(t, [2]string{"fabrika.x", "bad"}, [2]string{"fabrika.x", "good"}, [2]string{"fabrika.x", "bad"},
			[2]string{"fabrika.x", "err"}, [2]string{"fabrika.x", "good"}, [2]string{"fabrika.x", "err"})
		// "bad" waits for its next attempt; "err" has given up and waits for a person.
		if _, err := f.db.Exec(`UPDATE outbox SET attempts = 1, next_attempt_at = $1 WHERE id = $2`, time.Now().Add(time.Hour).UnixMicro(), ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Exec(`UPDATE outbox SET status = 'error', attempts = 10 WHERE id = $1`, ids[3]); err != nil {
			t.Fatal(err)
		}
		got, err := f.out.ClaimIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{ids[1], ids[4]}; !slices.Equal(got, want) {
			t.Fatalf("claimed %v, want only the good key %v", got, want)
		}
		// Once its backoff is over, "bad" goes again, its first message first
		// (the good ones were published meanwhile).
		if _, err := f.db.Exec(`DELETE FROM outbox WHERE id IN ($1, $2)`, ids[1], ids[4]); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.Exec(`UPDATE outbox SET next_attempt_at = 1 WHERE id = $1`, ids[0]); err != nil {
			t.Fatal(err)
		}
		got, err = f.out.ClaimIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{ids[0], ids[2]}; !slices.Equal(got, want) {
			t.Fatalf("claimed %v after the backoff, want %v", got, want)
		}
	})
}

func TestRelayFailingKeyDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{BaseBackoff: time.Minute, MaxBackoff: time.Hour}, true)
		ids := f.enqueue(t, [2]string{subjectRefused, "bad"}, [2]string{"fabrika.test.ok", "good"},
			[2]string{"fabrika.test.ok", "bad"}, [2]string{"fabrika.test.ok", "good"})
		if _, err := f.out.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{ids[1], ids[3]} {
			if _, _, _, ok := f.row(t, id); ok {
				t.Errorf("good message %s still in the outbox", id)
			}
		}
		status, attempts, next, ok := f.row(t, ids[0])
		if !ok || status != "pending" || attempts != 1 || next <= time.Now().UnixMicro() {
			t.Errorf("failed message: present=%v status=%s attempts=%d next=%d, want pending, 1 attempt, next in the future", ok, status, attempts, next)
		}
		if _, attempts, _, ok := f.row(t, ids[2]); !ok || attempts != 0 {
			t.Errorf("the later message of the failing key: present=%v attempts=%d, want held back untouched", ok, attempts)
		}
		st, err := f.js.Stream(ctx, broker.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{ids[1], ids[3]} {
			m, err := st.GetMsg(ctx, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if m.Header.Get(outbox.HeaderMsgID) != id || m.Header.Get(outbox.HeaderKey) != "good" {
				t.Errorf("stream seq %d holds %s key %s, want %s key good", i+1, m.Header.Get(outbox.HeaderMsgID), m.Header.Get(outbox.HeaderKey), id)
			}
		}
		if info, _ := st.Info(ctx); info.State.Msgs != 2 {
			t.Errorf("stream holds %d messages, want 2", info.State.Msgs)
		}
	})
}

func TestRelayStatusErrorAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{MaxAttempts: 3, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}, true)
		ids := f.enqueue(t, [2]string{subjectRefused, "k"})
		var status string
		var attempts int
		testenv.Eventually(t, 10*time.Second, func() error { // each cycle after the backoff is an attempt
			if _, err := f.out.Cycle(ctx); err != nil {
				t.Fatal(err)
			}
			if status, attempts, _, _ = f.row(t, ids[0]); status != "error" {
				return fmt.Errorf("status %s after %d attempts", status, attempts)
			}
			return nil
		})
		if status != "error" || attempts != 3 {
			t.Fatalf("status %s after %d attempts, want error after 3", status, attempts)
		}
		// No further attempt is made on a message in error.
		if _, err := f.out.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
		if _, attempts, _, _ = f.row(t, ids[0]); attempts != 3 {
			t.Errorf("attempts grew to %d in status error", attempts)
		}
		want := `
# HELP fabrika_outbox_failed_total Messages that got status error after the last allowed attempt.
# TYPE fabrika_outbox_failed_total counter
fabrika_outbox_failed_total 1
# HELP fabrika_outbox_publish_errors_total Failed publishes: kind=refused spent an attempt (retried until max attempts), kind=unavailable did not (broker away).
# TYPE fabrika_outbox_publish_errors_total counter
fabrika_outbox_publish_errors_total{kind="refused"} 3
fabrika_outbox_publish_errors_total{kind="unavailable"} 0
`
		if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), "fabrika_outbox_failed_total", "fabrika_outbox_publish_errors_total"); err != nil {
			t.Error(err)
		}
		list, err := outbox.NewAdmin(f.db).List(ctx, "error", 10)
		if err != nil || len(list) != 1 || !strings.Contains(list[0].LastError, "expected stream does not match") {
			t.Errorf("admin list %+v (%v), want the message with its last error", list, err)
		}
	})
}

func TestBackoffGrowsWithinJitterBounds(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		base, maxB := 100*time.Millisecond, 10*time.Second
		f := newFixture(t, e, outbox.Config{BaseBackoff: base, MaxBackoff: maxB}, false)
		prevCeil := time.Duration(0)
		for attempt := 1; attempt <= 12; attempt++ {
			ceil := min(base<<(attempt-1), maxB)
			lo, hi := time.Duration(1<<62), time.Duration(0)
			for range 2000 {
				d := f.out.Backoff(attempt)
				if d < ceil/2 || d > ceil {
					t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, ceil/2, ceil)
				}
				lo, hi = min(lo, d), max(hi, d)
			}
			if hi-lo < ceil/4 {
				t.Errorf("attempt %d: 2000 backoffs spread over only %v..%v: no jitter", attempt, lo, hi)
			}
			if ceil < prevCeil {
				t.Errorf("attempt %d: ceiling %v shrank", attempt, ceil)
			}
			prevCeil = ceil
		}
		if prevCeil != maxB {
			t.Errorf("ceiling %v never reached the maximum %v", prevCeil, maxB)
		}
	})
}

func TestRetryHorizonWithinDuplicateWindow(t *testing.T) {
	t.Parallel()
	for _, c := range []outbox.Config{{}, testenv.HostConfig(t, "x", nil).Outbox} {
		cfg, err := outbox.WithDefaults(c)
		if err != nil {
			t.Fatal(err)
		}
		if h := cfg.RetryHorizon(); h <= 0 || h >= broker.DuplicateWindow {
			t.Errorf("retry horizon %v of %+v must be positive and under the duplicate window %v", h, cfg, broker.DuplicateWindow)
		}
	}
	// The defaults: 10 attempts, 1s doubling to 5m, 5s publish timeout.
	cfg, _ := outbox.WithDefaults(outbox.Config{})
	if h := cfg.RetryHorizon(); h < 10*time.Minute || h > 20*time.Minute {
		t.Errorf("default retry horizon %v, want about 15 minutes", h)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	bad := []outbox.Config{
		{BatchSize: 10001},
		{MaxAttempts: -1},
		{BaseBackoff: time.Minute, MaxBackoff: time.Second},
		{Lease: time.Second, PublishTimeout: 2 * time.Second},
		{MaxInFlight: -3},
		{Interval: -time.Second},
	}
	for _, c := range bad {
		if _, err := outbox.New(nil, nil, c, testenv.Logger(t), nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

func TestAdminListRetryDrop(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx := context.Background()
		f := newFixture(t, e, outbox.Config{}, false)
		ids := f.enqueue(t, [2]string{"fabrika.x", "a"}, [2]string{"fabrika.x", "b"}, [2]string{"fabrika.x", "c"}, [2]string{"fabrika.x", "d"})
		for _, id := range ids[1:] {
			if _, err := f.db.Exec(`UPDATE outbox SET status = 'error', attempts = 10, last_error = 'broker said no', next_attempt_at = 99 WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
		}
		admin := outbox.NewAdmin(f.db)
		listIDs := func(status string) []string {
			list, err := admin.List(ctx, status, 0)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range list {
				out = append(out, e.ID)
			}
			return out
		}
		if got := listIDs(""); !slices.Equal(got, ids) {
			t.Errorf("list all %v, want %v", got, ids)
		}
		if got := listIDs("error"); !slices.Equal(got, ids[1:]) {
			t.Errorf("list error %v, want %v", got, ids[1:])
		}
		if got := listIDs("pending"); !slices.Equal(got, ids[:1]) {
			t.Errorf("list pending %v, want %v", got, ids[:1])
		}

		// Retry one: pending again with fresh attempts.
		if n, err := admin.Retry(ctx, ids[1]); err != nil || n != 1 {
			t.Fatalf("retry: %d, %v", n, err)
		}
		if status, attempts, next, _ := f.row(t, ids[1]); status != "pending" || attempts != 0 || next != 0 {
			t.Errorf("after retry: %s, %d attempts, next %d", status, attempts, next)
		}
		for _, id := range []string{ids[0], ids[1], "nope"} {
			if _, err := admin.Retry(ctx, id); !errors.Is(err, outbox.ErrNotFound) {
				t.Errorf("retry of %s (not in error): %v, want ErrNotFound", id, err)
			}
		}
		// Drop one: gone, returned for the record.
		dropped, err := admin.Drop(ctx, ids[2])
		if err != nil || dropped.ID != ids[2] || dropped.LastError != "broker said no" || !strings.Contains(dropped.Payload, `"key":"c"`) {
			t.Fatalf("drop: %+v, %v", dropped, err)
		}
		if _, _, _, ok := f.row(t, ids[2]); ok {
			t.Error("dropped message still in the outbox")
		}
		if _, err := admin.Drop(ctx, ids[0]); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("drop of a pending message: %v, want ErrNotFound", err)
		}
		// Retry all.
		if n, err := admin.Retry(ctx, "all"); err != nil || n != 1 {
			t.Errorf("retry all: %d, %v, want 1", n, err)
		}
		if got := listIDs("error"); len(got) != 0 {
			t.Errorf("still in error: %v", got)
		}
	})
}

func TestRunPublishesAtCommit(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// An interval of an hour: only the wake-up at commit can publish.
		f := newFixture(t, e, outbox.Config{Interval: time.Hour}, true)
		done := make(chan error, 1)
		go func() { done <- f.out.Run(ctx) }()
		// Let the first sweep pass, then commit.
		testenv.EventuallyTrue(t, 10*time.Second, "the first sweep", func() bool { return f.out.Sweeps() > 0 })
		const n = 50
		var pairs [][2]string
		for i := range n {
			pairs = append(pairs, [2]string{"fabrika.test.ok", fmt.Sprint("k", i%5)})
		}
		f.enqueue(t, pairs...)
		testenv.Eventually(t, 5*time.Second, func() error {
			var left int
			if err := f.db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&left); err != nil {
				return err
			}
			if left != 0 {
				return fmt.Errorf("%d messages not published without a sweep", left)
			}
			return nil
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		st, _ := f.js.Stream(context.Background(), broker.StreamName)
		if info, _ := st.Info(context.Background()); info.State.Msgs != n {
			t.Fatalf("stream holds %d, want %d", info.State.Msgs, n)
		}
	})
}

// TestRelayVacuumsItsTable: on PostgreSQL the relay vacuums the outbox after
// it deleted published rows, at its interval or, sooner, after VacuumAfter
// rows, so that scans do not walk over the dead versions every message
// leaves behind.
func TestRelayVacuumsItsTable(t *testing.T) {
	t.Parallel()
	if !testenv.PostgresConfigured() {
		t.Skip("the relay vacuums on PostgreSQL only; SQLite reuses deleted pages by itself")
	}
	tests := []struct {
		name     string
		cfg      outbox.Config
		messages int
	}{
		{"at its interval", outbox.Config{VacuumInterval: 50 * time.Millisecond}, 2},
		{"after enough rows", outbox.Config{VacuumInterval: time.Hour, VacuumAfter: 10}, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := newFixture(t, sqldb.Postgres, tc.cfg, true)
			vacuums := func() int64 {
				var n int64
				if err := f.db.QueryRow(`SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'outbox'`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := vacuums(); n != 0 {
				t.Fatalf("vacuum_count %d before the relay ran", n)
			}
			done := make(chan error, 1)
			go func() { done <- f.out.Run(ctx) }()
			var pairs [][2]string
			for i := range tc.messages {
				pairs = append(pairs, [2]string{"fabrika.test.ok", fmt.Sprint("k", i)})
			}
			f.enqueue(t, pairs...)
			testenv.EventuallyTrue(t, 10*time.Second, "the relay to vacuum the outbox after deleting published rows",
				func() bool { return vacuums() > 0 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var left int
			if err := f.db.QueryRow(`SELECT COUNT(*) FROM outbox`).Scan(&left); err != nil || left != 0 {
				t.Fatalf("%d messages left (%v)", left, err)
			}
		})
	}
}
