package inbox_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fabrika/fabrika/platform/inbox"
	"github.com/fabrika/fabrika/platform/sqldb"
	"github.com/fabrika/fabrika/platform/testenv"
)

// TestStopHandsBackWhatWasNotStarted: an inbox that stops finishes the
// message it is handling and gives the ones it holds but has not started
// back to the broker at once, so that it stops without working off its
// backlog and another instance takes them now, not after AckWait. Every
// message takes effect exactly once.
func TestStopHandsBackWhatWasNotStarted(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := testenv.DB(t, effectMigrations)
	js := newStream(ctx, t, "inbox-stop-test")
	const n = 20
	for i := range n { // one key: one worker holds them all, in order
		msg := nats.NewMsg("fabrika.test.stop")
		msg.Header.Set("Nats-Msg-Id", fmt.Sprint("m-", i))
		msg.Header.Set("Fabrika-Key", "one-key")
		msg.Data = []byte(`{}`)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	// Without the hand-back the broker would send the held messages again
	// only after AckWait, longer than the test waits.
	cfg := inbox.Config{Workers: 1, AckWait: 2 * time.Minute}
	var mu sync.Mutex
	handled := map[string]int{} // instance -> messages it handled
	started, release := make(chan struct{}), make(chan struct{})
	subscribe := func(in *inbox.Inbox, name string, block bool) {
		in.SubscribeWith("stop", map[string]inbox.Handler{
			"fabrika.test.stop": func(ctx context.Context, tx *sqldb.Tx, m inbox.Message) error {
				mu.Lock()
				handled[name]++
				first := handled[name] == 1
				mu.Unlock()
				if block && first {
					close(started)
					<-release
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO effect (msg_id, note) VALUES ($1, $2)`, m.ID, name)
				return err
			},
		}, inbox.SubscriptionOptions{BatchSize: 1})
	}

	a := newInbox(t, db, js, cfg, nil)
	subscribe(a, "a", true)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the first message never reached the handler")
	}
	stop()
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("inbox a: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("inbox a did not stop")
	}
	mu.Lock()
	if handled["a"] >= n {
		t.Errorf("the stopping inbox handled all %d messages before it stopped, want only the one it had started", handled["a"])
	}
	mu.Unlock()

	bIn := newInbox(t, db, js, cfg, nil)
	subscribe(bIn, "b", false)
	runInbox(t, ctx, bIn)
	testenv.Eventually(t, 30*time.Second, func() error {
		var effects, ids int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT msg_id) FROM effect`).Scan(&effects, &ids); err != nil {
			return err
		}
		if effects != n || ids != n {
			return fmt.Errorf("%d effects of %d messages, want %d of %d", effects, ids, n, n)
		}
		return nil
	})
}
