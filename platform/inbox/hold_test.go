package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// publishKeys publishes n messages on subject, each with a key of its own.
func publishKeys(ctx context.Context, t *testing.T, js jetstream.JetStream, subject, prefix string, n int) {
	t.Helper()
	for i := range n {
		msg := nats.NewMsg(subject)
		msg.Header.Set("Nats-Msg-Id", fmt.Sprintf("%s-%d", prefix, i))
		msg.Header.Set("Fabrika-Key", fmt.Sprintf("%s-key-%d", prefix, i))
		msg.Data = []byte(`{}`)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHeldMessagesAreNotRedelivered: messages an inbox holds for longer
// than AckWait (here a backlog of 300 behind one worker whose first
// message takes 4 AckWaits) are not redelivered meanwhile: the inbox tells
// the broker they are in progress. Before, the messages beyond its queue
// (64 a worker) waited in the client library's buffer, unseen, and the
// broker sent each of them again after AckWait.
func TestHeldMessagesAreNotRedelivered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testenv.DB(t, effectMigrations)
	js := newStream(ctx, t, "inbox-held")
	const subject, n, ackWait = "fabrika.test.held", 300, 500 * time.Millisecond
	in := newInbox(t, db, js, inbox.Config{Service: "held", Workers: 1, AckWait: ackWait}, nil)
	started, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	in.SubscribeWith("held", map[string]inbox.Handler{
		subject: func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			if calls.Add(1) == 1 {
				close(started)
				<-release
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'held')`, m.ID)
			return err
		},
	}, inbox.SubscriptionOptions{BatchSize: 1})
	runInbox(t, ctx, in)
	publishKeys(ctx, t, js, subject, "first", 1)
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the first message never reached the handler")
	}
	publishKeys(ctx, t, js, subject, "backlog", n-1)
	// The premise of the test, not a synchronisation: the backlog is held
	// for several AckWaits.
	<-time.After(4 * ackWait)
	close(release)
	testenv.Eventually(t, 30*time.Second, func() error {
		var effects int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM effect`).Scan(&effects); err != nil {
			return err
		}
		if effects != n {
			return fmt.Errorf("%d of %d messages processed", effects, n)
		}
		return nil
	})
	c, err := js.Consumer(ctx, "FABRIKA", in.ConsumerName("held"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The consumer's sequence counts every delivery, redeliveries too.
	if got := info.Delivered.Consumer; got != n {
		t.Errorf("the broker made %d deliveries of %d messages: %d redelivered while the inbox held them", got, n, got-n)
	}
	if got := calls.Load(); got != n {
		t.Errorf("the handler ran %d times for %d messages", got, n)
	}
}

// TestDeadInstanceMessagesComeBackSoon: with the default AckWait, a
// message delivered to an instance that is gone before it acked (its
// connection closed, as when the process is killed) is processed by another
// instance within seconds. With the 30 s of before, the fault suite's
// orders waited that long after a restart of the whole platform.
func TestDeadInstanceMessagesComeBackSoon(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testenv.DB(t, effectMigrations)
	b, js := newBrokerStream(ctx, t, "inbox-dead")
	const subject = "fabrika.test.dead"
	handler := func(note string, before func()) map[string]inbox.Handler {
		return map[string]inbox.Handler{subject: func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			if before != nil {
				before()
				return errors.New("this instance is gone")
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, $2)`, m.ID, note)
			return err
		}}
	}
	// Instance a: its connection closes when the message reaches it, so
	// that neither an ack nor a NAK reaches the broker.
	nc := b.Connect(t, "inbox-dead-a")
	jsA, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var gone time.Time
	closed := make(chan struct{})
	a := newInbox(t, db, jsA, inbox.Config{Service: "dead"}, nil)
	a.Subscribe("dead", handler("a", func() { gone = time.Now(); nc.Close(); close(closed) }))
	runA, stopA := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runA) }()
	publishKeys(ctx, t, js, subject, "dead", 1)
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("the message never reached instance a")
	}
	stopA()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("instance a: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("instance a did not stop")
	}

	bIn := newInbox(t, db, js, inbox.Config{Service: "dead"}, nil)
	bIn.Subscribe("dead", handler("b", nil))
	runInbox(t, ctx, bIn)
	testenv.Eventually(t, 30*time.Second, func() error {
		var note string
		if err := db.QueryRowContext(ctx, `SELECT note FROM effect`).Scan(&note); err != nil {
			return err
		}
		if note != "b" {
			return fmt.Errorf("processed by %q", note)
		}
		return nil
	})
	// Not a timing benchmark: the bound is the default AckWait (5 s) with
	// room for a loaded machine, and far below the 30 s it was.
	if took := time.Since(gone); took > 15*time.Second {
		t.Errorf("the dead instance's message was processed %v after it was gone, want within the default AckWait", took.Round(time.Millisecond))
	}
}

// TestSkipAcksWithoutATransaction: the messages a subscription's Skip picks
// are acked without their handler, a transaction or an inbox record, and
// counted; the others are processed as always.
func TestSkipAcksWithoutATransaction(t *testing.T) {
	t.Parallel()
	testenv.EachEngine(t, func(t *testing.T, e sqldb.Engine) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		db := testenv.DBOn(t, e, effectMigrations)
		js := newStream(ctx, t, "inbox-skip-"+string(e))
		reg := prometheus.NewRegistry()
		in := newInbox(t, db, js, inbox.Config{Service: "skip"}, reg)
		const subject = "fabrika.test.skip"
		var calls atomic.Int64
		in.SubscribeWith("skip", map[string]inbox.Handler{
			subject: func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
				calls.Add(1)
				_, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'done')`, m.ID)
				return err
			},
		}, inbox.SubscriptionOptions{Skip: func(m inbox.Message) bool { return strings.HasPrefix(m.ID, "other-") }})
		runInbox(t, ctx, in)
		publishKeys(ctx, t, js, subject, "other", 5)
		publishKeys(ctx, t, js, subject, "mine", 3)
		testenv.Eventually(t, 30*time.Second, func() error {
			if got := counterSum(t, reg, "fabrika_inbox_processed_total"); got != 8 {
				return fmt.Errorf("%v of 8 messages acked", got)
			}
			return nil
		})
		var effects, records int
		if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM effect), (SELECT COUNT(*) FROM inbox)`).Scan(&effects, &records); err != nil {
			t.Fatal(err)
		}
		if effects != 3 || records != 3 || calls.Load() != 3 {
			t.Errorf("%d effects, %d inbox records, %d handler calls; want 3 of each (the 5 skipped: none)", effects, records, calls.Load())
		}
		if got := counterSum(t, reg, "fabrika_inbox_skipped_total"); got != 5 {
			t.Errorf("skipped counter %v, want 5", got)
		}
	})
}
