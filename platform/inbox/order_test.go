package inbox_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestNoWaitBehindAnotherKey: while a message's handler is slow, the
// messages of other keys are processed by the other worker, and the later
// messages of its own key wait for it and then run in order. Before, each
// key had the worker of its hash, and a message waited for every message of
// the keys that hashed with it while the other worker was idle (the largest
// share of the receiver's latency in relaybench).
func TestNoWaitBehindAnotherKey(t *testing.T) {
	t.Parallel()
	if !testenv.PostgresConfigured() {
		t.Skip("SQLite has one writer at a time: a slow transaction holds up every other")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testenv.DBOn(t, sqldb.Postgres, effectMigrations)
	js := newStream(ctx, t, "inbox-order-test")
	// Keys that share the slow key's FNV-1a hash modulo 2: the worker a
	// worker-per-hash inbox gave the slow key.
	const slow = "slow"
	hash := func(k string) uint32 { h := fnv.New32a(); h.Write([]byte(k)); return h.Sum32() % 2 }
	var others []string
	for i := 0; len(others) < 5; i++ {
		if k := fmt.Sprint("key-", i); hash(k) == hash(slow) {
			others = append(others, k)
		}
	}
	var mu sync.Mutex
	var order []string // message ids in the order their transactions committed
	started, release := make(chan struct{}), make(chan struct{})
	in := newInbox(t, db, js, inbox.Config{Workers: 2}, nil)
	in.Subscribe("order", map[string]inbox.Handler{
		"fabrika.test.order": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
			if m.ID == "slow-0" {
				close(started)
				<-release
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, 'x')`, m.ID); err != nil {
				return err
			}
			tx.AfterCommit(func() {
				mu.Lock()
				order = append(order, m.ID)
				mu.Unlock()
			})
			return nil
		},
	})
	runInbox(t, ctx, in)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the inbox stops, if the test fails first
	publish := func(id, key string) {
		t.Helper()
		msg := nats.NewMsg("fabrika.test.order")
		msg.Header.Set("Nats-Msg-Id", id)
		msg.Header.Set("Fabrika-Key", key)
		msg.Data = []byte(`{}`)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	committed := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(order)
	}

	publish("slow-0", slow)
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the slow message never reached its handler")
	}
	for i := 1; i <= 3; i++ {
		publish(fmt.Sprint("slow-", i), slow)
	}
	for _, k := range others {
		publish(k, k)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := committed(); len(got) < len(others) {
			return fmt.Errorf("%d of the %d other keys' messages processed while the slow one runs: %v", len(got), len(others), got)
		}
		return nil
	})
	if got := committed(); len(got) != len(others) {
		t.Fatalf("processed while slow-0 runs: %v, want only the other keys' %v", got, others)
	}
	once.Do(func() { close(release) })
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := committed(); len(got) < len(others)+4 {
			return fmt.Errorf("%d of %d processed", len(got), len(others)+4)
		}
		return nil
	})
	got := committed()[len(others):]
	if want := []string{"slow-0", "slow-1", "slow-2", "slow-3"}; !slices.Equal(got, want) {
		t.Errorf("the slow key's messages committed in the order %v, want %v", got, want)
	}
}
